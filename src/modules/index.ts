// The modules a server loads, in order.
import type { HearthModule } from '../core/module.js';
import { discoModule } from './disco.js';
import { pingModule } from './ping.js';

export const builtinModules: readonly HearthModule[] = [discoModule, pingModule];

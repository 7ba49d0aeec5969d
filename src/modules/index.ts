// The modules a server loads, in order.
import type { HearthModule } from '../core/module.js';
import { csiModule } from './csi.js';
import { discoModule } from './disco.js';
import { offlineModule } from './offline.js';
import { pingModule } from './ping.js';
import { presenceModule } from './presence.js';
import { rosterModule } from './roster.js';

export const builtinModules: readonly HearthModule[] = [discoModule, pingModule, rosterModule, presenceModule, offlineModule, csiModule];

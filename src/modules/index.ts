// The modules a server loads, in order.
import type { HearthModule } from '../core/module.js';
import { blockingModule } from './blocking.js';
import { carbonsModule } from './carbons.js';
import { csiModule } from './csi.js';
import { contactAddressesModule } from './contact-addresses.js';
import { discoModule } from './disco.js';
import { lastActivityModule } from './last-activity.js';
import { mamModule } from './mam.js';
import { offlineModule } from './offline.js';
import { pingModule } from './ping.js';
import { presenceModule } from './presence.js';
import { privateStorageModule } from './private-storage.js';
import { vcardModule } from './vcard.js';
import { capsModule } from './caps.js';
import { pepModule } from './pep.js';
import { bookmarksModule } from './bookmarks.js';
import { avatarsModule } from './avatars.js';
import { mucModule } from './muc.js';
import { rosterModule } from './roster.js';
import { timeModule } from './time.js';
import { versionModule } from './version.js';
import { registrationModule } from './registration.js';

export const builtinModules: readonly HearthModule[] = [discoModule, pingModule, rosterModule, presenceModule, offlineModule, csiModule,
  versionModule, timeModule, lastActivityModule, contactAddressesModule, carbonsModule,
  blockingModule, mamModule, privateStorageModule, vcardModule, capsModule, pepModule, bookmarksModule, avatarsModule, mucModule, registrationModule];

// The group-chat service as a server builds it from its configuration (null when
// muc.enabled is false), with room archives answered by the MAM module's query code.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { mucDomains, type Config } from '../../config.js';
import { tryParseJid } from '../../core/jid.js';
import type { Router } from '../../core/router.js';
import type { ServiceForwarding } from '../../core/services.js';
import type { Ownership } from '../../cluster/ownership.js';
import type { ModuleMetrics } from '../../metrics/metrics.js';
import { answerArchiveQuery } from '../../modules/mam.js';
import type { Stores } from '../../storage/index.js';
import type { AdminCheck } from '../../core/server-admins.js';
import { MucService } from './service.js';

export interface MucServiceDependencies {
  config: Config;
  stores: Stores;
  /** Server administrators (config `admins` and granted ones): muc.createRooms admins. */
  admins: AdminCheck;
  router: Router;
  ownership: Ownership;
  forwarding: ServiceForwarding | null;
  metrics: ModuleMetrics;
  log: Logger;
}

export async function createMucService(deps: MucServiceDependencies): Promise<MucService | null> {
  const { config, stores, router, log } = deps;
  const domains = mucDomains(config);
  if (domains.length === 0) return null;
  const archiveQueries = deps.metrics.counter('hearth_room_archive_queries_total', 'Room archive queries answered (XEP-0313 on a room JID).');
  const { maxPageSize } = config.mam;
  const defaultPageSize = Math.min(config.mam.defaultPageSize, maxPageSize);
  // XEP-0421 §3: occupant ids stay the same across restarts and cluster nodes.
  const secret = await stores.secrets.getOrCreate('muc-occupant-id', randomBytes(32));
  const send = (stanza: Parameters<Router['send']>[0]) => {
    void router.send(stanza);
  };
  return new MucService({
    domains: new Map(domains.map((domain) => [domain, domain.slice(config.muc.subdomain.length + 1)])),
    localDomains: new Set(config.domains),
    admins: deps.admins,
    createRooms: config.muc.createRooms,
    limits: { maxOccupants: config.limits.mucOccupantsPerRoom, historyMessages: config.limits.mucHistoryMessages },
    store: stores.muc,
    archive: stores.roomArchive,
    ownership: deps.ownership,
    forwarding: deps.forwarding,
    secret,
    send,
    deliver: (stanza, from, to) => {
      void router.sendParsed(stanza, from, to);
    },
    queryArchive: (room, from, payload) =>
      answerArchiveQuery({
        store: stores.roomArchive,
        owner: tryParseJid(room.jid)!,
        requester: from,
        payload,
        deliver: send,
        limits: { maxPageSize, defaultPageSize, queryCount: archiveQueries },
        room: true,
        log,
      }),
    log,
  });
}

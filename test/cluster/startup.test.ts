// Clustering needs PostgreSQL: the embedded PGlite belongs to one process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { validateConfig } from '../../src/config.js';
import { createLogger } from '../../src/core/log.js';
import { startServer } from '../../src/server.js';

describe('cluster: start-up', () => {
  it('refuses cluster.redis on the embedded PGlite, saying why', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-cluster-'));
    try {
      const env = { ...process.env };
      delete env.DATABASE_URL;
      delete env.REDIS_URL;
      const config = validateConfig({ dataDir, cluster: { redis: 'redis://127.0.0.1:6379/11' }, c2s: { listen: [], directTls: [] }, s2s: { listen: [] }, admin: { listen: [] }, http: { listen: [] } }, dataDir, env);
      let error: Error | null = null;
      await startServer(config, createLogger('silent', { pretty: false })).catch((err: Error) => (error = err));
      expect(error).to.be.instanceOf(Error);
      expect(error!.message).to.match(/cluster\.redis needs PostgreSQL/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('takes REDIS_URL over cluster.redis, and refuses a URL that is not redis://', () => {
    const config = validateConfig({ cluster: { redis: 'redis://a.example:6379/0' } }, '/tmp', { REDIS_URL: 'redis://b.example:6379/1' });
    expect(config.cluster.redis).to.equal('redis://b.example:6379/1');
    expect(() => validateConfig({}, '/tmp', { REDIS_URL: 'http://b.example' })).to.throw(/REDIS_URL/);
    expect(() => validateConfig({ cluster: { redis: 'mysql://x' } }, '/tmp', {})).to.throw(/cluster\.redis/);
  });
});

import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashGateway, type UpstashGateway } from '../support/upstash-gateway.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';

const TOKEN = 'gateway-test-token';
let valkey: ValkeyServer;
let gateway: UpstashGateway;

beforeAll(async () => {
  valkey = await startValkey();
  gateway = await startUpstashGateway({ valkeyPort: valkey.port, token: TOKEN });
});

afterAll(async () => {
  await gateway?.close();
  await valkey?.stop();
});

describe('the Upstash REST gateway over a real valkey-server', () => {
  it('serves @upstash/redis commands, pipelines and the path style, with base64 encoding', async () => {
    const redis = new Redis({ url: gateway.url, token: TOKEN, enableTelemetry: false, retry: false });
    expect(await redis.set('greeting', 'héllo')).toBe('OK');
    expect(await redis.get('greeting')).toBe('héllo');
    const pipeline = redis.pipeline();
    pipeline.incr('counter');
    pipeline.incr('counter');
    expect(await pipeline.exec()).toEqual([1, 2]);

    const pathStyle = await fetch(`${gateway.url}/get/greeting`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await pathStyle.json()).toEqual({ result: 'héllo' });
  });

  it('refuses a wrong token', async () => {
    const response = await fetch(`${gateway.url}/`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong' },
      body: JSON.stringify(['get', 'greeting']),
    });
    expect(response.status).toBe(401);
    const redis = new Redis({ url: gateway.url, token: 'wrong', enableTelemetry: false, retry: false });
    await expect(redis.get('greeting')).rejects.toThrow(/Unauthorized/);
  });

  it('restarts valkey on the same port', async () => {
    await valkey.restart();
    const redis = new Redis({ url: gateway.url, token: TOKEN, enableTelemetry: false, retry: false });
    let answer: unknown;
    // iovalkey reconnects by itself; bounded wait.
    for (let i = 0; i < 50 && answer !== 'OK'; i++) {
      answer = await redis.set('after-restart', '1').catch(() => undefined);
      if (answer !== 'OK') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(answer).toBe('OK');
  });
});

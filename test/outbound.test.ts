import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertOutboundHost, gitRemoteHost, internalReason } from '../src/system/outbound.js';

test('internal addresses are named: loopback, private, link-local (cloud metadata), CGNAT, IPv6 ULA and mapped IPv4', () => {
  const cases: Array<[string, string | undefined]> = [
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', undefined],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast or reserved'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'private (unique local)'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['93.184.216.34', undefined],
    ['2606:2800:220:1::1', undefined],
    // IPv4 inside IPv6, in the forms URL parsing and resolvers produce
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:a9fe:a9fe]', 'link-local'],
    ['::ffff:0:a00:1', undefined],
    ['::7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:5db8:d822::1', undefined],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['0:0:0:0:0:ffff:c0a8:101', 'private'],
    ['fec0::1', 'private (site-local)'],
    ['fe80::1%eth0', 'link-local'],
  ];
  for (const [ip, why] of cases) assert.equal(internalReason(ip), why, ip);
});

test('a name is checked by every address it resolves to; outbound_allow lets chosen ones through', async () => {
  const resolve = async (h: string) =>
    ({
      'git.example.com': ['93.184.216.34'],
      'sneaky.example.com': ['93.184.216.34', '10.0.0.5'],
      'metadata.example.com': ['169.254.169.254'],
    })[h] ?? [];
  await assertOutboundHost('git.example.com', [], 'fetch', resolve);
  await assert.rejects(
    assertOutboundHost('sneaky.example.com', [], 'fetch', resolve),
    /sneaky\.example\.com is a private address \(10\.0\.0\.5\)/,
  );
  await assert.rejects(assertOutboundHost('metadata.example.com', [], 'fetch', resolve), /link-local/);
  await assert.rejects(assertOutboundHost('[::1]', [], 'fetch', resolve), /loopback/);
  await assert.rejects(assertOutboundHost('127.0.0.1', [], 'fetch', resolve), (err: { hint?: string }) =>
    /outbound_allow: \["127\.0\.0\.1"\]/.test(err.hint ?? ''),
  );
  await assertOutboundHost('sneaky.example.com', ['10.0.0.0/8'], 'fetch', resolve);
  await assert.rejects(
    assertOutboundHost(new URL('http://[::ffff:127.0.0.1]/').hostname, [], 'notification', resolve),
    /loopback/,
    'the hex form URL parsing makes of a mapped address',
  );
  await assertOutboundHost('127.0.0.1', ['127.0.0.1'], 'fetch', resolve);
  await assert.rejects(assertOutboundHost('10.1.0.1', ['10.0.0.0/16'], 'fetch', resolve), /private/);
});

test('git remote hosts: URLs, scp-like ssh, and local paths (no outbound call)', () => {
  assert.equal(gitRemoteHost('https://github.com/acme/shop.git'), 'github.com');
  assert.equal(gitRemoteHost('ssh://git@10.0.0.7:2222/shop.git'), '10.0.0.7');
  assert.equal(gitRemoteHost('git@github.com:acme/shop.git'), 'github.com');
  assert.equal(gitRemoteHost('http://[::1]:8080/x.git'), '[::1]');
  assert.equal(gitRemoteHost('/srv/git/shop.git'), undefined);
  assert.equal(gitRemoteHost('file:///srv/git/shop.git'), undefined);
});

test('names are checked at connect time: "localhost" resolves to loopback and is refused unless allowed', async () => {
  const { checkedLookup } = await import('../src/system/outbound.js');
  const run = (allow: string[]) =>
    new Promise<string>((resolve) =>
      checkedLookup(allow, 'notification')('localhost', {}, (err, address) =>
        resolve(err ? `error: ${err.message}` : typeof address === 'string' ? address : JSON.stringify(address)),
      ),
    );
  assert.match(await run([]), /^error: notification: localhost is a loopback address/);
  assert.match(await run(['127.0.0.1', '::1']), /^(127\.0\.0\.1|::1)$/);
});

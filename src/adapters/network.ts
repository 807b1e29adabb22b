import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Addresses a webhook must not reach unless private targets are allowed: loopback, private,
 * link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
 * unspecified ranges, in IPv4 and IPv6, and the transition ranges that hide an address (Teredo,
 * the 6to4 relay; IPv4-mapped, -compatible, NAT64 and 6to4 addresses are judged by the IPv4
 * address inside).
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  // Teredo: a tunnel whose far end the address does not show plainly.
  ['2001::', 32],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

const dotted = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * The IPv4 address embedded in an IPv4-mapped (::ffff:0:0/96), IPv4-translated
 * (::ffff:0:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) or 6to4 (2002::/16) IPv6
 * address, read from its eight groups, so that every way of writing one is the same address.
 */
function embeddedIpv4(address: string): string | null {
  const p = ipaddr.IPv6.parse(address).parts;
  const zeros = (from: number, to: number) => p.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && p[5] === 0xffff) return dotted(p[6], p[7]);
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return dotted(p[6], p[7]);
  if (zeros(0, 6) && (p[6] !== 0 || p[7] > 1)) return dotted(p[6], p[7]);
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return dotted(p[6], p[7]);
  if (p[0] === 0x2002) return dotted(p[1], p[2]);
  return null;
}

/** Whether `address` (a literal IPv4 or IPv6 address) is loopback, private or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(bare);
    if (v4 !== null) return blocked.check(v4, 'ipv4');
    return blocked.check(bare, 'ipv6');
  }
  return true;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address `hostname` resolves to (a literal address resolves to itself). */
export function resolveHost(hostname: string): Promise<ResolvedAddress[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare)) return Promise.resolve([{ address: bare, family: isIP(bare) }]);
  return new Promise((resolve, reject) => {
    dnsLookup(bare, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });
}

export class PrivateAddressError extends Error {
  constructor(readonly address: string) {
    super(`refused to connect to non-public address ${address}`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses non-public addresses. The check happens on the very
 * address the socket then connects to, so a name that resolves differently between a check and
 * the connection (DNS rebinding) cannot slip through.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    resolveHost(hostname).then(
      (addresses) => {
        const refused = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
        if (refused) return callback(new PrivateAddressError(refused.address) as NodeJS.ErrnoException, '', 0);
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
        if (options.all) return callback(null, addresses);
        callback(null, addresses[0].address, addresses[0].family);
      },
      (err) => callback(err, '', 0),
    );
  };
}

/**
 * Names set aside for private or special use (RFC 2606, 6761, 6762, 8375, 9476, and ICANN's
 * `.internal`), plus TLDs that will never be delegated (ICANN's name-collision list): no
 * public CA can validate them, so ACME for them fails forever.
 */
const PRIVATE_SUFFIXES = [
  'test',
  'example',
  'invalid',
  'localhost',
  'local',
  'internal',
  'home.arpa',
  'alt',
  'lan',
  'home',
  'corp',
  'intranet',
  'private',
];

/**
 * Why no public CA (Let's Encrypt, ZeroSSL) will ever certify `host`, or undefined when one
 * may: a reserved or private name, a single label, or an IP address.
 */
export function whyNoPublicCertificate(host: string): string | undefined {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (/^[0-9.]+$/.test(name) || name.includes(':')) return 'it is an IP address';
  const suffix = PRIVATE_SUFFIXES.find((s) => name === s || name.endsWith(`.${s}`));
  if (suffix) return `.${suffix} is reserved for private use: no public CA certifies it`;
  if (!name.includes('.')) return 'it is a single label, not a public domain name';
  return undefined;
}

/**
 * Who a client is, from the TLS certificate it presented on the client port. grpc-js's
 * `getAuthContext()` describes a peer certificate only when the handshake verified it against the
 * port's CA (`socket.authorized`): with `--tls-client-auth request`, a certificate that does not
 * verify gives no identity, exactly like none at all.
 */
import type { PeerCertificate } from 'node:tls';

/** What a grpc-js server call offers (its `AuthContext` type is not exported by the package). */
export interface AuthContextSource {
  getAuthContext(): { readonly transportSecurityType?: string; readonly sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The verified client certificate's subject CN; if it has none (or several), its first URI
 * subject alternative name, else its first DNS one; undefined without a verified certificate.
 */
export function certificateIdentity(call: AuthContextSource): string | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert) return undefined;
  // Node gives a repeated attribute as an array: several CNs name no one in particular.
  const cn: unknown = cert.subject?.CN;
  if (typeof cn === 'string' && cn !== '') return cn;
  const sans = subjectAltNames(cert.subjectaltname ?? '');
  return sans.find((s) => s.type === 'URI')?.value ?? sans.find((s) => s.type === 'DNS')?.value;
}

/**
 * Node's `subjectaltname` string (`DNS:a, URI:spiffe://x, IP Address:10.0.0.1`) as entries. A value
 * holding a comma or quote comes JSON-quoted (`DNS:"a,b"`), so it cannot be mistaken for two.
 */
export function subjectAltNames(raw: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  for (let m = entry.exec(raw); m && m[0] !== ''; m = entry.exec(raw)) {
    const type = m[1] as string;
    const value = m[2] as string;
    let parsed = value;
    if (value.startsWith('"')) {
      try {
        parsed = JSON.parse(value) as string;
      } catch {
        return out; // not what Node writes: stop rather than guess
      }
    }
    out.push({ type, value: parsed });
  }
  return out;
}

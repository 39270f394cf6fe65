/**
 * What an export failure means, for OTLP over gRPC and over HTTP alike, and a message that names
 * the cause and the fix. The retrying exporters act on `kind`:
 *   transient  the collector is down, slow or overloaded: keep the data, retry with backoff
 *   auth       the collector refused our credentials (wrong or missing token): retry, log an error
 *   tls        the TLS handshake failed (unknown CA, name mismatch, client certificate): as auth
 *   too_large  the request is bigger than the receiver accepts: split it, drop a single item
 *   rejected   the receiver will never accept this data (invalid): drop it and count it
 */
export type ExportFailureKind = 'transient' | 'auth' | 'tls' | 'too_large' | 'rejected';

export interface ExportFailure {
  kind: ExportFailureKind;
  message: string;
}

// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
]);

const TLS_TEXT = /self[- ]signed certificate|unable to verify|unable to get (local )?issuer|certificate (has expired|is not yet valid|required)|altnames|wrong version number|alert (bad certificate|unknown ca|certificate required)|ssl|tls/i;
const TOO_LARGE_TEXT = /larger than max|message (size|length)|too large/i;  // gRPC and the Collector's HTTP wording

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** `signal` is the exporter's name in the message ("otlp", "otlp metrics"). */
export function classifyExportError(error: unknown, signal: string): ExportFailure {
  if (!(error instanceof Error)) return { kind: 'transient', message: 'unknown error' };
  const e = error as Error & { code?: unknown; details?: unknown; data?: unknown };
  const details = typeof e.details === 'string' && !e.message.includes(e.details) ? e.details : '';
  const text = firstLine([e.message, details].filter(Boolean).join(': '));
  const auth = `the collector refused the credentials (${text}): check the token in OTEL_EXPORTER_OTLP_HEADERS (e.g. "Authorization=Bearer <token>")`;
  const tls = (what: string): string =>
    `TLS handshake with the collector failed: ${what}: set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA that signed the collector's certificate` +
    ', and OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/OTEL_EXPORTER_OTLP_CLIENT_KEY if it requires a client certificate';

  if (typeof e.code === 'string') {
    if (e.code === 'EXPORT_TIMEOUT') return { kind: 'transient', message: `${signal}: the collector did not answer: ${text}` };
    if (TLS_CODES.has(e.code) || e.code.startsWith('ERR_SSL_') || e.code.startsWith('ERR_TLS_')) return { kind: 'tls', message: tls(`${e.code}: ${text}`) };
    return { kind: 'transient', message: `${e.code}: ${text}` };
  }
  if (typeof e.code === 'number') {
    // An HTTP status from OTLP/HTTP (OTLPExporterError), or a gRPC status.
    if (e.name === 'OTLPExporterError' && e.code >= 100) {
      if (e.code === 401 || e.code === 403) return { kind: 'auth', message: auth.replace(text, `HTTP ${e.code} ${text}`) };
      const body = typeof e.data === 'string' ? firstLine(e.data.replace(/[^\x20-\x7e]+/g, ' ').trim()) : '';
      // The Collector answers an oversized body with 400 and "request body too large" in its status.
      if (e.code === 413 || TOO_LARGE_TEXT.test(body)) {
        return { kind: 'too_large', message: `the collector refused a request as too large (HTTP ${e.code}${body ? ` ${body}` : ''})` };
      }
      if (e.code >= 400 && e.code < 500 && e.code !== 408 && e.code !== 429) {
        return { kind: 'rejected', message: `the collector rejected the data (HTTP ${e.code} ${text}${body ? `: ${body}` : ''})` };
      }
      return { kind: 'transient', message: `HTTP ${e.code} ${text}` };
    }
    switch (e.code) {
      case GRPC.UNAUTHENTICATED:
      case GRPC.PERMISSION_DENIED:
        return { kind: 'auth', message: auth };
      case GRPC.INVALID_ARGUMENT:
        return { kind: 'rejected', message: `the collector rejected the data as invalid (${text})` };
      case GRPC.RESOURCE_EXHAUSTED:
        if (TOO_LARGE_TEXT.test(text)) return { kind: 'too_large', message: `the request is larger than the collector accepts (${text})` };
        return { kind: 'transient', message: text };
      case GRPC.UNAVAILABLE:
        if (TLS_TEXT.test(text)) return { kind: 'tls', message: tls(text) };
        return { kind: 'transient', message: text };
      default:
        return { kind: 'transient', message: text };
    }
  }
  if (TLS_TEXT.test(text)) return { kind: 'tls', message: tls(text) };
  return { kind: 'transient', message: text || 'unknown error' };
}

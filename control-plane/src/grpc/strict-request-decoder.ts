/**
 * Strict proto3 decoding of the requests SecretService receives. protobufjs (behind @grpc/proto-loader) is
 * lenient: it reads a string field sent as a varint by taking the varint as a length and swallowing the next
 * fields, replaces bytes that are not UTF-8 with U+FFFD (so a secret was installed as other bytes than sent),
 * accepts truncated strings, and throws on other damage, which grpc-js answers as INTERNAL. This decoder
 * never throws: it marks the request, and the service answers INVALID_ARGUMENT (or PERMISSION_DENIED for a
 * token that is not UTF-8) in one place.
 */
import type { MessageTypeDefinition, MethodDefinition, ServiceDefinition } from '@grpc/proto-loader';

/** What was wrong with a request's bytes. Never holds field contents, only numbers and names. */
export interface RequestProblems {
  /** The message is larger than its method takes: `<size> vs <limit>`, refused before it is decoded. */
  tooLarge?: string;
  /** The bytes are not a well-formed message of the expected type. */
  malformed?: string;
  /** Known string fields whose bytes are not valid UTF-8 (decoded as ''). */
  invalidUtf8: string[];
}

const PROBLEMS = Symbol('requestProblems');

type Decoded = Record<string, string | boolean | string[]> & { [PROBLEMS]?: RequestProblems };

/** The problems the strict decoder found in a request, if any. */
export function requestProblems(request: unknown): RequestProblems | undefined {
  return typeof request === 'object' && request !== null ? (request as Decoded)[PROBLEMS] : undefined;
}

const WIRE_NAMES = [
  'varint',
  '64-bit',
  'length-delimited',
  'start-group',
  'end-group',
  '32-bit',
  'invalid',
  'invalid',
];
const MAX_FIELD_NUMBER = 2 ** 29 - 1;

interface FieldSpec {
  name: string;
  /** `strings`: a repeated string, each occurrence one more element. */
  kind: 'string' | 'strings' | 'bool';
  wireType: 0 | 2;
}

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  label: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Malformed extends Error {}

/**
 * A decoder for one request message type. Only the field types our requests use (string, repeated string,
 * bool) are supported; any other throws here, when the server is built, rather than mis-decoding at run time.
 */
export function strictDecoder(
  type: MessageTypeDefinition<object, object>,
  maxBytes = Number.POSITIVE_INFINITY,
): (bytes: Buffer) => Decoded {
  const descriptor = type.type as { name?: string; field?: FieldDescriptor[] };
  const fields = new Map<number, FieldSpec>();
  for (const field of descriptor.field ?? []) {
    const repeated = field.label === 'LABEL_REPEATED';
    if (repeated && field.type !== 'TYPE_STRING')
      throw new TypeError(`strict decoder: repeated field ${field.name} is not supported`);
    if (repeated) fields.set(field.number, { name: field.name, kind: 'strings', wireType: 2 });
    else if (field.type === 'TYPE_STRING')
      fields.set(field.number, { name: field.name, kind: 'string', wireType: 2 });
    else if (field.type === 'TYPE_BOOL')
      fields.set(field.number, { name: field.name, kind: 'bool', wireType: 0 });
    else throw new TypeError(`strict decoder: field ${field.name} of ${field.type} is not supported`);
  }
  const defaults = () => {
    const message: Decoded = {};
    for (const spec of fields.values())
      message[spec.name] = spec.kind === 'string' ? '' : spec.kind === 'strings' ? [] : false;
    return message;
  };

  return (bytes) => {
    if (bytes.length > maxBytes) {
      const refused = defaults();
      refused[PROBLEMS] = { tooLarge: `${bytes.length} vs ${maxBytes}`, invalidUtf8: [] };
      return refused;
    }
    const message = defaults();
    const invalidUtf8 = new Set<string>();
    let pos = 0;
    const varint = (what: string): number => {
      let value = 0;
      for (let i = 0; i < 10; i++) {
        if (pos >= bytes.length) throw new Malformed(`truncated ${what}`);
        const byte = bytes[pos++] as number;
        // Past 2^53 this loses precision; only tags (checked below) and zero-ness are ever used.
        value += (byte & 0x7f) * 2 ** (7 * i);
        if (byte < 0x80) return value;
      }
      throw new Malformed(`${what} is longer than 10 bytes`);
    };
    const take = (length: number, what: string): Buffer => {
      if (length > bytes.length - pos) throw new Malformed(`truncated ${what}`);
      const slice = bytes.subarray(pos, pos + length);
      pos += length;
      return slice;
    };
    try {
      while (pos < bytes.length) {
        const tag = varint('field tag');
        if (tag > 0xffffffff) throw new Malformed('field tag is out of range');
        const number = Math.floor(tag / 8);
        const wireType = tag % 8;
        if (number === 0 || number > MAX_FIELD_NUMBER)
          throw new Malformed(`field number ${number} is out of range`);
        const spec = fields.get(number);
        const label = spec ? `field ${number} (${spec.name})` : `field ${number}`;
        if (spec && wireType !== spec.wireType) {
          throw new Malformed(
            `${label} has wire type ${wireType} (${WIRE_NAMES[wireType]}), expected ${spec.wireType} (${WIRE_NAMES[spec.wireType]})`,
          );
        }
        switch (wireType) {
          case 0: {
            const value = varint(label);
            if (spec) message[spec.name] = value !== 0;
            break;
          }
          case 1:
            take(8, label);
            break;
          case 2: {
            const content = take(varint(`${label} length`), label);
            if (!spec) break;
            // Proto3: the last occurrence of a scalar wins, but one that is not UTF-8 taints the message. A
            // repeated string gains one element per occurrence.
            let text = '';
            try {
              text = utf8.decode(content);
            } catch {
              invalidUtf8.add(spec.name);
            }
            if (spec.kind === 'strings') (message[spec.name] as string[]).push(text);
            else message[spec.name] = text;
            break;
          }
          case 5:
            take(4, label);
            break;
          default:
            throw new Malformed(`${label} has wire type ${wireType} (${WIRE_NAMES[wireType]}), not accepted`);
        }
      }
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      const malformed = defaults();
      malformed[PROBLEMS] = { malformed: error.message, invalidUtf8: [] };
      return malformed;
    }
    if (invalidUtf8.size > 0) message[PROBLEMS] = { invalidUtf8: [...invalidUtf8] };
    return message;
  };
}

/**
 * The largest request message a method takes, after decompression. A request holds a token, a secret or a kid: a
 * few hundred bytes. RevokeTokens carries up to 10,000 jtis (about 400 KB of UUIDs), so it takes more; the
 * server's own limit is that larger one, and every other method refuses past MAX_REQUEST_BYTES before decoding.
 */
export const MAX_REQUEST_BYTES = 8 * 1024;
export const MAX_REQUEST_BYTES_BY_METHOD: Readonly<Record<string, number>> = { RevokeTokens: 1024 * 1024 };

/** The same service definition with every request decoded by `strictDecoder`, within its method's size limit. */
export function withStrictRequests(service: ServiceDefinition): ServiceDefinition {
  const strict: Record<string, MethodDefinition<object, object>> = {};
  for (const [name, method] of Object.entries(service)) {
    const maxBytes = MAX_REQUEST_BYTES_BY_METHOD[name] ?? MAX_REQUEST_BYTES;
    strict[name] = { ...method, requestDeserialize: strictDecoder(method.requestType, maxBytes) };
  }
  return strict;
}

/**
 * Byte helpers shared by the protocol core: hex, constant-time equality, and the atproto JSON data-model
 * `{"$bytes": base64}` form (hosts emit standard alphabet without padding; we accept both).
 */
import { timingSafeEqual } from 'node:crypto'

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error('not a hex string')
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Decodes standard or URL-safe base64, padded or not; returns null on anything else. */
export function decodeBase64(value: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return null
  const b = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/** Encodes as standard base64 without padding, as the reference implementation emits. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '')
}

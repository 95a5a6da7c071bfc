/**
 * Encryption at rest for sessions, credentials and DPoP keys kept in Redis: AES-256-GCM with a random
 * 96-bit nonce per message and the record's key name as associated data (a ciphertext moved to another
 * key does not decrypt). The 32-byte key comes from configuration (SPACEVIEW_SECRETS_KEY); nothing in
 * this module logs or returns plaintext except to its caller.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export class SecretBox {
  private readonly key: Buffer

  constructor(keyHex: string) {
    if (!/^[0-9a-f]{64}$/i.test(keyHex)) throw new Error('secret key must be 32 bytes of hex')
    this.key = Buffer.from(keyHex, 'hex')
  }

  seal(plaintext: string, context: string): string {
    const nonce = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce)
    cipher.setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64')
  }

  /** Returns null when the box was sealed with another key or for another context, or was altered. */
  open(sealed: string, context: string): string | null {
    try {
      const raw = Buffer.from(sealed, 'base64')
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12))
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(raw.subarray(12, 28))
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }
}

/**
 * Joins a streamed response body's small chunks into pieces of at least a minimum size before they reach
 * the socket. The CAR writer yields three chunks per block (length varint, CID, bytes), so a 100-record
 * getRepo was ~300 socket writes, each paying the fault interceptor's per-chunk step, an http write and an
 * iovec of the final writev; that per-chunk overhead cost devnet more CPU than building the CAR.
 *
 * Invariants: the bytes and their order are unchanged (only the chunk boundaries move); less than
 * `minBytes` plus one chunk is held back, so a large body still streams in bounded memory; the last piece
 * may be shorter. Chunks are held by reference until their piece is joined, so a source must not modify a
 * chunk after yielding it (the CAR writer never does).
 */
const DEFAULT_PIECE_BYTES = 64 * 1024

export async function* coalescedChunks(
  chunks: AsyncIterable<Uint8Array>,
  minBytes = DEFAULT_PIECE_BYTES,
): AsyncIterable<Uint8Array> {
  let parts: Uint8Array[] = []
  let size = 0
  for await (const chunk of chunks) {
    parts.push(chunk)
    size += chunk.length
    if (size >= minBytes) {
      yield Buffer.concat(parts, size)
      parts = []
      size = 0
    }
  }
  if (size > 0) yield Buffer.concat(parts, size)
}

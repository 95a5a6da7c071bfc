import { HostGate } from '../../src/crawler/host-gate.js'

describe('HostGate (per-process host slots)', () => {
  it('admits up to the cap per host, independently per host', async () => {
    const gate = new HostGate({ cap: 2, maxWaitMs: 60_000, maxWaiters: 0 })
    const a = await gate.enter('a.example')
    const b = await gate.enter('a.example')
    expect(a).toBeDefined()
    expect(b).toBeDefined()
    expect(await gate.enter('a.example')).toBeUndefined() // full, and nobody may wait
    expect(await gate.enter('b.example')).toBeDefined() // another host is not affected
    a!()
    a!() // a second release of the same slot frees nothing more
    expect(gate.usage('a.example')).toEqual({ held: 1, waiting: 0 })
    expect(await gate.enter('a.example')).toBeDefined()
    expect(gate.usage('a.example')).toEqual({ held: 2, waiting: 0 })
  })

  it('hands a freed slot to the oldest waiter, and refuses waiters beyond the bound at once', async () => {
    const gate = new HostGate({ cap: 1, maxWaitMs: 60_000, maxWaiters: 2 })
    const first = (await gate.enter('h'))!
    const order: string[] = []
    const w1 = gate.enter('h').then((r) => (order.push('w1'), r))
    const w2 = gate.enter('h').then((r) => (order.push('w2'), r))
    expect(await gate.enter('h')).toBeUndefined() // a third waiter is turned away
    expect(gate.usage('h')).toEqual({ held: 1, waiting: 2 })
    first()
    const r1 = (await w1)!
    expect(order).toEqual(['w1'])
    expect(gate.usage('h')).toEqual({ held: 1, waiting: 1 }) // passed on, never two at once
    r1()
    const r2 = (await w2)!
    expect(order).toEqual(['w1', 'w2'])
    r2()
    expect(gate.usage('h')).toEqual({ held: 0, waiting: 0 })
  })

  it('a wait that runs out holds nothing', async () => {
    const gate = new HostGate({ cap: 1, maxWaitMs: 1 })
    const held = (await gate.enter('h'))!
    expect(await gate.enter('h')).toBeUndefined()
    expect(gate.usage('h')).toEqual({ held: 1, waiting: 0 })
    held()
    expect(gate.usage('h')).toEqual({ held: 0, waiting: 0 })
  })

  it('gives the turn to ask the limiter to one holder per host at a time, in arrival order', async () => {
    const gate = new HostGate({ cap: 4, maxWaitMs: 60_000 })
    const order: string[] = []
    const first = await gate.turn('h')
    const second = gate.turn('h').then((r) => (order.push('second'), r))
    const third = gate.turn('h').then((r) => (order.push('third'), r))
    const other = await gate.turn('other.example') // another host has its own turn
    expect(gate.turnUsage('h')).toEqual({ held: 1, waiting: 2 })
    await new Promise((r) => setTimeout(r, 10))
    expect(order).toEqual([]) // nobody asks while the turn is held
    first()
    first() // giving it back twice passes it on once
    ;(await second)()
    ;(await third)()
    other()
    expect(order).toEqual(['second', 'third'])
    expect(gate.turnUsage('h')).toEqual({ held: 0, waiting: 0 })
  })
})

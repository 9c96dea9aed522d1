import { describe, it, expect } from 'vitest'
import { PeerScore, PeerAction } from '../src/node/peer-score.ts'

describe('app-level peer score', () => {
  it('applies named actions, decays with its half-life, and fires disconnect then ban', () => {
    let now = 1_000_000
    const score = new PeerScore({ halfLifeMs: 1000, disconnectThreshold: -50, banThreshold: -100, banDurationMs: 5000, now: () => now })
    const events: string[] = []
    score.addEventListener('disconnect', (e) => events.push(`disconnect:${e.detail.peerId}`))
    score.addEventListener('ban', (e) => events.push(`ban:${e.detail.peerId}`))

    expect(score.report('p', 'MalformedMessage')).toBe(PeerAction.MalformedMessage)
    now += 1000
    expect(score.score('p')).toBeCloseTo(PeerAction.MalformedMessage / 2)
    score.report('p', 'InvalidSignature') // -10 - 40 = -50: at the disconnect threshold
    expect(events).toEqual(['disconnect:p'])
    score.report('p', 'InvalidSignature') // -90
    expect(events).toEqual(['disconnect:p', 'disconnect:p'])
    score.report('p', 'InvalidSignature') // -130: banned
    expect(events).toEqual(['disconnect:p', 'disconnect:p', 'ban:p'])
    expect(score.isBanned('p')).toBe(true)
    expect(score.list()[0]).toMatchObject({ peerId: 'p', banned: true })
    now += 5001
    expect(score.isBanned('p')).toBe(false)
    expect(score.score('unknown')).toBe(0)
  })

  it('bans a peer that falls to the disconnect threshold again soon after a disconnect', () => {
    let now = 1_000_000
    const score = new PeerScore({ halfLifeMs: 1000, now: () => now })
    const events: string[] = []
    score.addEventListener('disconnect', (e) => events.push(`disconnect:${e.detail.peerId}`))
    score.addEventListener('ban', (e) => events.push(`ban:${e.detail.peerId}`))
    // Three malformed messages: -60, disconnected.
    for (let i = 0; i < 3; i++) score.report('p', 'MalformedMessage')
    expect(events).toEqual(['disconnect:p'])
    // Its score decays above -50 (it may reconnect), and it offends again within 3 half-lives.
    now += 1000
    expect(score.isPenalised('p')).toBe(false)
    score.report('p', 'MalformedMessage') // -30 - 20 = -50: back at the threshold
    expect(events).toEqual(['disconnect:p', 'ban:p'])
    expect(score.isBanned('p')).toBe(true)
    // Out of the window, a second disconnect is only a disconnect.
    for (let i = 0; i < 3; i++) score.report('q', 'MalformedMessage')
    now += 4000
    score.report('q', 'InvalidSignature') // -3.75 - 40 - 40: the first report crosses nothing
    score.report('q', 'InvalidSignature')
    expect(events.slice(2)).toEqual(['disconnect:q', 'disconnect:q'])
    expect(score.isBanned('q')).toBe(false)
  })

  it('keeps at most maxBans bans and drops expired ones', () => {
    let now = 0
    const score = new PeerScore({ maxBans: 3, banDurationMs: 100, now: () => now })
    const ban = (id: string): void => { score.report(id, 'InvalidSignature'); score.report(id, 'InvalidSignature'); score.report(id, 'InvalidSignature') }
    for (const id of ['a', 'b', 'c']) ban(id)
    expect(score.banCount).toBe(3)
    ban('d') // over the bound: the soonest to end (a) goes
    expect(score.banCount).toBe(3)
    expect(score.isBanned('a')).toBe(false)
    expect(['b', 'c', 'd'].every((id) => score.isBanned(id))).toBe(true)
    now += 101 // every ban has expired; the next ban prunes them
    ban('e')
    expect(score.banCount).toBe(1)
    expect(score.isBanned('e')).toBe(true)
  })

  it('forgets the least recently reported peers past its bound', () => {
    const score = new PeerScore({ maxPeers: 2 })
    score.report('a', 'Timeout')
    score.report('b', 'Timeout')
    score.report('c', 'Timeout')
    expect(score.score('a')).toBe(0)
    expect(score.score('c')).toBeLessThan(0)
  })
})

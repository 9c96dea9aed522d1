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

  it('forgets the least recently reported peers past its bound', () => {
    const score = new PeerScore({ maxPeers: 2 })
    score.report('a', 'Timeout')
    score.report('b', 'Timeout')
    score.report('c', 'Timeout')
    expect(score.score('a')).toBe(0)
    expect(score.score('c')).toBeLessThan(0)
  })
})

import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type LocalStatus, renderStatus, serviceState, sizeOf } from '../../local/ops/status.ts'
import { formatBytes, paintWith, renderTable } from '../../local/ops/text.ts'

describe('status', () => {
  it('names a service by whether it answers and whether this profile started it', () => {
    expect(serviceState({ healthy: true, pid: 41 })).toBe('up')
    expect(serviceState({ healthy: true, pid: undefined })).toBe('up, not ours')
    expect(serviceState({ healthy: false, pid: 41 })).toBe('starting or hung')
    expect(serviceState({ healthy: false, pid: undefined })).toBe('down')
  })

  it('renders services, ports and local state as aligned tables', () => {
    const status: LocalStatus = {
      services: [
        { profile: 'run', service: 'kafka', endpoint: '127.0.0.1:19092', healthy: true, pid: 4242 },
        {
          profile: 'run',
          service: 'opensearch',
          endpoint: 'http://127.0.0.1:19200',
          healthy: false,
          pid: undefined,
        },
      ],
      ports: [
        { what: 'run: Kafka broker', port: 19092, open: true },
        { what: 'make run: dashboard page', port: 8420, open: false },
      ],
      state: [
        { what: 'run: Kafka data', path: '.local/run/kafka/data', bytes: 3 * 1024 * 1024 },
        { what: 'run: quarantine', path: '.local/run/buckets/raw/quarantine', bytes: undefined },
      ],
    }
    expect(renderStatus(status, paintWith(false))).toBe(
      [
        'Services',
        'profile  service     state  pid   endpoint',
        '-------  ----------  -----  ----  ----------------------',
        'run      kafka       up     4242  127.0.0.1:19092',
        'run      opensearch  down   -     http://127.0.0.1:19200',
        '',
        'Ports',
        'port   in use  what',
        '-----  ------  ------------------------',
        '19092  yes     run: Kafka broker',
        '8420   no      make run: dashboard page',
        '',
        'Local state (.local/)',
        'size     what             path',
        '-------  ---------------  ---------------------------------',
        '3.0 MiB  run: Kafka data  .local/run/kafka/data',
        'absent   run: quarantine  .local/run/buckets/raw/quarantine',
      ].join('\n'),
    )
  })

  it('aligns coloured cells by their visible width', () => {
    const paint = paintWith(true)
    const table = renderTable(['a', 'b'], [[paint('green', 'up'), 'x']])
    expect(table.split('\n')[2]).toBe('\u001b[32mup\u001b[0m  x')
  })

  it('adds up a directory without following symlinks, and knows an absent path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-status-'))
    mkdirSync(join(dir, 'nested'))
    writeFileSync(join(dir, 'a'), 'x'.repeat(1000))
    writeFileSync(join(dir, 'nested', 'b'), 'y'.repeat(24))
    symlinkSync('/usr', join(dir, 'link'))
    // Files and the link itself (its target's length, "/usr"); directories add nothing of their own.
    expect(sizeOf(dir)).toBe(1000 + 24 + 4)
    expect(sizeOf(join(dir, 'missing'))).toBeUndefined()
  })

  it('writes byte sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MiB')
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB')
  })
})

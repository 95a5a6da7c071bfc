/**
 * The report as a person sees it: headless Chromium (Debian's `chromium` package) renders a report of a
 * live registry to a PNG, which must have the window's size and show the page's colours and charts.
 * Skipped, saying so, only where /usr/bin/chromium is not installed (`apt-get install -y chromium`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reportCommand } from '../../src/cli/report.js'
import { PALETTE } from '../../src/metrics/svg-chart.js'
import { colourCounts, decodePng } from '../metrics/png.js'
import { startBusyInstance } from '../metrics/report-fixture.js'

const CHROMIUM = '/usr/bin/chromium'
const installed = existsSync(CHROMIUM)
if (!installed) {
  console.warn(
    `SKIPPED the report screenshot test: ${CHROMIUM} is not installed. Install it with ` +
      '`apt-get update && apt-get install -y chromium` (CI must do the same).',
  )
}

describe('spaceview report in a browser', () => {
  ;(installed ? it : it.skip)(
    'renders to a non-trivial screenshot in headless Chromium',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'spaceview-shot-'))
      const busy = await startBusyInstance()
      try {
        const html = join(dir, 'report.html')
        const code = await reportCommand(
          ['--url', busy.server.url, '--out', html, '--samples', '5', '--interval', '0.1'],
          () => undefined,
        )
        expect(code).toBe(0)
        const png = join(dir, 'report.png')
        // The flags keep Chromium off the network (this machine has none) and out of any profile.
        const r = spawnSync(
          CHROMIUM,
          [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            `--user-data-dir=${join(dir, 'profile')}`,
            `--screenshot=${png}`,
            '--window-size=1200,900',
            `file://${html}`,
          ],
          { encoding: 'utf8', timeout: 60_000 },
        )
        expect({ status: r.status, written: existsSync(png) }).toEqual({ status: 0, written: true })
        const bytes = readFileSync(png)
        expect(bytes.length).toBeGreaterThan(20_000)
        const image = decodePng(bytes)
        expect([image.width, image.height]).toEqual([1200, 900])
        const colours = colourCounts(image)
        // A blank or error page has a handful of colours; charts, text and anti-aliasing have hundreds.
        expect(colours.size).toBeGreaterThan(200)
        const [background = 0] = [...colours.values()].sort((a, b) => b - a)
        expect(background / (image.width * image.height)).toBeLessThan(0.9)
        // The first chart lines (palette blue and orange) are on screen, not just boxes and text.
        for (const colour of PALETTE.slice(0, 2)) expect(colours.get(colour) ?? 0).toBeGreaterThan(100)
      } finally {
        await busy.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    },
    90_000,
  )
})

// What the browser tests of the dashboard share: a page's problems (console errors and warnings, page errors,
// failed requests), its text as a reader sees it, waiting until a selector's text matches, and screenshots.
import { join } from 'node:path'
import type { Page } from 'playwright-core'

export function pageHelpers (page: Page, t: Tap.Test, shots: string) {
  const problems: string[] = []
  page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`) })
  page.on('pageerror', e => problems.push(`page error: ${e.message}`))
  page.on('requestfailed', r => { if (r.failure()?.errorText !== 'net::ERR_ABORTED' || !r.url().startsWith('blob:')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`) })
  // innerText: table cells apart, as a reader sees them
  const text = async (sel: string) => (await page.locator(sel).first().innerText({ timeout: 10_000 })).replace(/\s+/g, ' ').trim()
  /** waits until the text of `sel` matches */
  const until = async (sel: string, re: RegExp, what: string) => {
    let last = ''
    for (let i = 0; i < 200; i++) {
      last = (await page.locator(sel).first().innerText({ timeout: 10_000 }).catch(() => '')).replace(/\s+/g, ' ').trim()
      if (re.test(last)) return last
      await page.waitForTimeout(50)
    }
    t.fail(`${what}: ${sel} never matched ${re} (last: ${JSON.stringify(last.slice(0, 300))})`)
    return last
  }
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
  return { problems, text, until, shot }
}

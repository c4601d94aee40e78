// The hostile agent battery on the local backend's fallback without bubblewrap (unshare + pivot_root).
import t from 'tap'

process.env.SYNTHGYM_ISOLATION = 'unshare'
const { battery } = await import('./battery.js')
t.setTimeout(15 * 60_000)
battery(t, 'unshare')

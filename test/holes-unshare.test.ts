// The same attacks on the local backend's fallback without bubblewrap (unshare + pivot_root).
import t from 'tap'

process.env.SYNTHGYM_ISOLATION = 'unshare'
const { holes } = await import('./holes-cases.js')
holes(t, 'unshare')

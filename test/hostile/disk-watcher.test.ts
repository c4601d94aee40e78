// The disk attacks where no quota is to be had (not root, no loop devices): the always-on watcher alone holds the
// limit, on the local backend's isolation here (SYNTHGYM_DISK_QUOTA=watch turns the quota off).
import t from 'tap'

process.env.SYNTHGYM_DISK_QUOTA = 'watch'
const { battery } = await import('./battery.js')
const { isolationHere } = await import('../helpers.js')
t.setTimeout(10 * 60_000)
battery(t, isolationHere(), a => a.id.startsWith('disk-'))

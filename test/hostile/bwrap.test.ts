// The hostile agent battery on the local backend's default isolation (bubblewrap where installed).
import t from 'tap'
import { battery } from './battery.js'
import { isolationHere } from '../helpers.js'

t.setTimeout(15 * 60_000)
battery(t, isolationHere())

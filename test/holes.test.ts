// The holes a hostile agent found, on the local backend's default isolation (bubblewrap where installed).
import t from 'tap'
import { localBackendInfo } from '../sandbox/local.js'
import { holes } from './holes-cases.js'

holes(t, localBackendInfo().isolation ?? 'none')

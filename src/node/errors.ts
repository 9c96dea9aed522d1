import { DepinError } from '../errors.ts'

/** The identity key file exists but cannot be read as a private key. */
export class CorruptKeyFileError extends DepinError {
  constructor (path: string, options?: ErrorOptions) {
    super(`the identity key file ${path} is corrupt (not a libp2p private key); restore it from a backup or move it away and run \`depin init\` for a new identity`, 'ERR_CORRUPT_KEY_FILE', options)
  }
}

/** The data directory does not exist or has not been initialised. */
export class DataDirError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DATA_DIR', options)
  }
}

/** A listen address or API port is already taken by another process. */
export class AddressInUseError extends DepinError {
  constructor (address: string, options?: ErrorOptions) {
    super(`address ${address} is already in use (is another depin node running?)`, 'ERR_ADDRESS_IN_USE', options)
  }
}

/** A capacity record failed validation (bad signature, expired, wrong key, bad schema). */
export class InvalidCapacityRecordError extends DepinError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_CAPACITY_RECORD', options)
  }
}

/** Another running node holds this data directory (its database is locked). */
export class DataDirInUseError extends DepinError {
  constructor (dataDir: string, detail = '', options?: ErrorOptions) {
    super(`data directory ${dataDir} is in use by another running depin node${detail}; stop it first (\`depin stop --data-dir ${dataDir}\`) or use another --data-dir`, 'ERR_DATA_DIR_IN_USE', options)
  }
}

/** A testnet already runs in this directory: a second one there would break it. */
export class TestnetInUseError extends DepinError {
  constructor (dir: string, detail: string, options?: ErrorOptions) {
    super(`testnet ${dir} is in use: ${detail}; stop that testnet first (Ctrl-C where it runs) or use another --dir`, 'ERR_TESTNET_IN_USE', options)
  }
}

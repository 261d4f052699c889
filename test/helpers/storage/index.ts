/**
 * Storage test rigs on loopback: an S3 emulator (s3rver + gap middleware), azurite, and an
 * in-memory GCS JSON API fake, plus rclone helpers. See README.md in this folder.
 */
export * from './azurite.js';
export * from './faults.js';
export * from './gcs-fake.js';
export * from './rclone.js';
export * from './s3-emulator.js';
export * from './test-env.js';
export * from './tree.js';

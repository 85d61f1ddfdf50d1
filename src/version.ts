/** This worker's version, from package.json (the CLI's --version, the source block of debezium records). */
export const VERSION: string = require('../../package.json').version;

import { expect } from 'chai';
import * as fs from 'node:fs';
import { HEADERS } from '../../src/kafka/records';
import { README, renderTable, section } from '../helpers/config-table';

describe('the README', () => {
  const text = fs.readFileSync(README, 'utf8');

  it('documents every header a record carries in the record contract', () => {
    const contract = text.slice(text.indexOf('## The record contract'), text.indexOf('## Consuming the topics'));
    for (const h of HEADERS) expect(contract, `header ${h}`).to.contain(`| header \`${h}\` |`);
  });

  for (const name of ['worker', 'connector'] as const) {
    it(`documents every field of schemas/${name}.schema.json with its default, as the schema says`, () => {
      const documented = section(text, `${name}-fields`);
      expect(documented, `README section <!-- ${name}-fields:start --> is missing`).to.not.equal(null);
      expect(documented, 'README config reference drifted from the schema: run `node dist/test/helpers/config-table.js --write`').to.equal(renderTable(name));
    });
  }

  it('gives the quick start as exactly the two commands make demo and make test', () => {
    const quick = section(text, 'quick-start');
    expect(quick).to.not.equal(null);
    const commands = (quick as string)
      .split('\n')
      .filter((l) => /^\s*make /.test(l))
      .map((l) => l.replace(/#.*$/, '').trim());
    expect(commands).to.deep.equal(['make demo', 'make test']);
  });
});

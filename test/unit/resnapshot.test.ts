import { expect } from 'chai';
import { isPredicateFailure } from '../../src/connector/resnapshot';
import { predicateTextProblem, wrapPredicate } from '../../src/postgres/predicate';
import { RateMeter } from '../../src/observe/status';

describe('re-snapshot predicates', () => {
  it('takes one balanced expression, with strings, quoted names, comments and dollar quotes that hold anything', () => {
    for (const ok of [
      'id > 1000',
      "region = 'eu' AND (tier IN ('a', 'b') OR id < 5)",
      "note = 'it''s ; ) fine'",
      "note = E'a\\\\' OR note = E'it\\'s ) ;'", // E'a\\' is a\; E'it\'s' holds an escaped quote
      '"odd; name)" IS NOT NULL',
      'id > 1 -- a comment with ; and )',
      'id > 1 /* nested /* comment ; */ still ) */',
      'note = $$ ; ) $$',
      'note = $tag$ ; ) $tag$',
      'id IN (SELECT id FROM other WHERE x = 1)',
    ]) expect(predicateTextProblem(ok), ok).to.equal(null);
  });

  it('names what is wrong with text that is not one expression', () => {
    expect(predicateTextProblem('')).to.match(/^is empty/);
    expect(predicateTextProblem('id > 1; DROP TABLE t')).to.match(/semicolon/);
    expect(predicateTextProblem('id > 1) UNION SELECT secret FROM t WHERE (true')).to.match(/closes a parenthesis it never opened/);
    expect(predicateTextProblem('(id > 1')).to.match(/opens a parenthesis it never closes/);
    expect(predicateTextProblem("note = 'x")).to.match(/string that is never closed/);
    expect(predicateTextProblem("note = E'x\\'")).to.match(/string that is never closed/);
    expect(predicateTextProblem('"name = 1')).to.match(/quoted name that is never closed/);
    expect(predicateTextProblem('id > 1 /* x')).to.match(/comment that is never closed/);
    expect(predicateTextProblem('note = $q$ x')).to.match(/dollar-quoted string that is never closed \(\$q\$\)/);
  });

  it('is pasted on lines of its own, so a trailing -- comment cannot swallow the closing parenthesis', () => {
    expect(wrapPredicate('id > 1 -- c')).to.equal('(\nid > 1 -- c\n)');
  });

  it('tells a failure of the predicate from a lost connection or a server going down', () => {
    expect(isPredicateFailure({ code: '42703' })).to.equal(true); // undefined column
    expect(isPredicateFailure({ code: '22012' })).to.equal(true); // division by zero
    expect(isPredicateFailure({ code: '25006' })).to.equal(true); // a write in the read-only transaction
    expect(isPredicateFailure({ code: '57014' })).to.equal(true); // statement timeout
    expect(isPredicateFailure({ code: '57P01' })).to.equal(false); // admin shutdown
    expect(isPredicateFailure({ code: '08006' })).to.equal(false);
    expect(isPredicateFailure({ code: '40P01' })).to.equal(false);
    expect(isPredicateFailure({ code: 'ECONNRESET' })).to.equal(false);
    expect(isPredicateFailure(new Error('socket hang up'))).to.equal(false);
  });
});

describe('progress rate', () => {
  it('measures the rate over at least a second and gives an ETA from it', () => {
    let t = 0;
    const m = new RateMeter(() => t);
    expect(m.progress(0, 1000, false)).to.include({ rows_done: 0, percent: 0, eta_seconds: null });
    t = 500;
    expect(m.progress(100, 1000, false).rows_per_second).to.equal(0); // under a second: no rate yet
    t = 2000;
    expect(m.progress(400, 1000, false)).to.include({ rows_per_second: 200, eta_seconds: 3, percent: 40 });
    expect(m.progress(1200, 1000, false)).to.include({ rows_estimated: 1200, percent: 99.9 }); // the estimate was low
    expect(m.progress(1200, 1200, true)).to.include({ percent: 100, eta_seconds: 0, rows_per_second: 0 });
    m.reset();
    expect(m.progress(0, 50, false).rows_per_second).to.equal(0);
  });
});

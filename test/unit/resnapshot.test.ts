import { expect } from 'chai';
import { isPredicateFailure } from '../../src/connector/resnapshot';
import { treeFacts } from '../../src/postgres/expression';
import { RateMeter } from '../../src/observe/status';

describe('re-snapshot predicates', () => {
  // Trees as PostgreSQL 15 stores them (pg_proc.prosqlbody of `RETURN <expr>`), shortened.
  const frame = (expr: string, extra = ':hasSubLinks false :rtable <> :isReturn true') =>
    `{QUERY :commandType 1 ${extra} :jointree {FROMEXPR :fromlist <> :quals <>} :targetList ({TARGETENTRY :expr ${expr} :resno 1})}`;
  const param = (n: number, type = 20) => `{PARAM :paramkind 0 :paramid ${n} :paramtype ${type} :paramtypmod -1 :paramcollid 0 :location 1}`;
  const konst = (type = 23) => `{CONST :consttype ${type} :consttypmod -1 :constcollid 0 :constlen 4 :constbyval true :constisnull false :location 5 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}`;

  it('reads the functions, operators, types and parameters of an analysed expression', () => {
    const tree = frame(
      `{BOOLEXPR :boolop and :args ({OPEXPR :opno 410 :opfuncid 467 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args (${param(1)} ${konst()})} ` +
        `{NULLTEST :arg {FUNCEXPR :funcid 870 :funcresulttype 25 :funcretset false :args (${param(3, 25)})} :nulltesttype 1} ` +
        `{ROWCOMPAREEXPR :rctype 4 :opnos (o 521 97) :opfamilies (o 1976 1976) :inputcollids (o 0 0) :largs (${param(1)}) :rargs (${konst()})})}`,
    );
    const facts = treeFacts(tree);
    expect(facts.refusedNodes).to.deep.equal([]);
    expect(facts.functionOids.sort()).to.deep.equal([467, 870]);
    expect(facts.operatorOids.sort()).to.deep.equal([410, 521, 97].sort());
    expect(facts.params.sort()).to.deep.equal([1, 3]);
    expect(facts.typeOids).to.include.members([16, 20, 23, 25]);
  });

  it('refuses a subquery, an aggregate or any node outside the allow-list, however it is nested', () => {
    const sub = frame(`{SUBLINK :subLinkType 4 :subselect {QUERY :commandType 1 :rtable ({RANGETBLENTRY :relid 16400})} }`, ':hasSubLinks true :rtable <> :isReturn true');
    expect(treeFacts(sub).refusedNodes).to.include.members(['SUBLINK', 'RANGETBLENTRY']);
    expect(treeFacts(frame(`{AGGREF :aggfnoid 2147}`)).refusedNodes).to.deep.equal(['AGGREF']);
    // A frame that is not a bare RETURN (a table in the range table, sublinks flagged) is refused too.
    expect(treeFacts(frame(konst(16), ':hasSubLinks false :rtable ({RTE}) :isReturn true')).refusedNodes).to.include('SUBLINK');
    expect(treeFacts(frame(konst(16), ':hasSubLinks false :rtable <> :isReturn false')).refusedNodes).to.include('SUBLINK');
  });

  it('tells a failure of the request from a lost connection or a server going down', () => {
    expect(isPredicateFailure({ code: '42703' })).to.equal(true); // undefined column
    expect(isPredicateFailure({ code: '22012' })).to.equal(true); // division by zero
    expect(isPredicateFailure({ code: '25006' })).to.equal(true); // a write in the read-only transaction
    expect(isPredicateFailure({ code: '57014' })).to.equal(true); // statement timeout
    expect(isPredicateFailure({ code: '53200' })).to.equal(true); // out of memory (repeat('x', 1e9))
    expect(isPredicateFailure({ code: 'XX000' })).to.equal(true); // an internal error it provokes: failed, not retried for ever
    expect(isPredicateFailure({ code: '57P01' })).to.equal(false); // admin shutdown
    expect(isPredicateFailure({ code: '53300' })).to.equal(false); // too many connections
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

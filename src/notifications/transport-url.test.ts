import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTransportUrl, redactUrl } from './transport-url.js';

describe('parseTransportUrl()', () => {
  it('reads user, password, host, port and vhost', () => {
    assert.deepEqual(parseTransportUrl('rabbit://nova:s%40cret@10.0.0.5:5673/openstack'), {
      ok: true,
      value: {
        brokers: [{ host: '10.0.0.5', port: 5673, username: 'nova', password: 's@cret' }],
        virtualHost: 'openstack',
      },
    });
  });

  it('maps an empty path to vhost "/", defaults port 5672 and guest credentials', () => {
    const got = parseTransportUrl('rabbit://localhost/');
    assert.ok(got.ok);
    assert.deepEqual(got.value, {
      brokers: [{ host: 'localhost', port: 5672, username: 'guest', password: 'guest' }],
      virtualHost: '/',
    });
    assert.equal(parseTransportUrl('rabbit://h:1').ok && 'ok', 'ok');
  });

  it('keeps several brokers in order, IPv6 in brackets, and an encoded "/" vhost', () => {
    const got = parseTransportUrl('rabbit://a:b@h1:5672,c:d@[::1]:5673/%2F');
    assert.ok(got.ok);
    assert.deepEqual(
      got.value.brokers.map((b) => `${b.username}@${b.host}:${b.port}`),
      ['a@h1:5672', 'c@::1:5673'],
    );
    assert.equal(got.value.virtualHost, '/');
  });

  // prettier-ignore
  const BAD = [
    { url: 'amqp://guest:guest@h:5672/', want: /scheme "amqp" is not supported; use rabbit:\/\// },
    { url: 'guest:guest@h', want: /expected rabbit:\/\/USER:PASS@HOST:PORT\/VHOST/ },
    { url: 'rabbit://', want: /no host given/ },
    { url: 'rabbit://u:p@h:99999/', want: /port "99999" is not between 1 and 65535/ },
    { url: 'rabbit://u:p@h:port/', want: /"h:port" is not HOST or HOST:PORT/ },
    { url: 'rabbit://u:p@h/?ssl=1', want: /query options/ },
    { url: 'rabbit://u:%zz@h/', want: /percent-encoding/ },
  ];
  for (const c of BAD) {
    it(`refuses ${c.url} with a message naming the problem`, () => {
      const got = parseTransportUrl(c.url);
      assert.ok(!got.ok);
      assert.equal(got.issues[0].code, 'notifier.invalid_transport_url');
      assert.match(got.issues[0].message, c.want);
    });
  }

  it('never repeats the password in a message', () => {
    const got = parseTransportUrl('rabbit://u:hunter2@h:0/');
    assert.ok(!got.ok);
    assert.doesNotMatch(got.issues[0].message, /hunter2/u);
  });
});

describe('redactUrl()', () => {
  it('masks every password', () => {
    assert.equal(redactUrl('rabbit://u:p1@h1:5672,v:p2@h2/x'), 'rabbit://u:***@h1:5672,v:***@h2/x');
  });
});

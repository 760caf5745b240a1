#!/usr/bin/ruby
# Debian's ruby-dalli (3.0.6), a client that speaks only memcached's binary protocol, against
# ssdcached: every command dalli sends (get/getkq multi-get, set/add/replace, cas, append/prepend,
# incr/decr with initial value, touch/gat, delete, flush, stats, version) must work unchanged.
# Starts its own server on a free 127.0.0.1 port; finds it through SSDCACHED_BIN.
require 'dalli'
require 'socket'
require 'tmpdir'

def check(what, got, want)
  return if got == want
  warn "FAIL #{what}: got #{got.inspect}, want #{want.inspect}"
  $failed = true
end

bin = ENV.fetch('SSDCACHED_BIN')
Dir.mktmpdir('ssdcache-dalli-', '/var/tmp') do |dir|
  probe = TCPServer.new('127.0.0.1', 0)
  port = probe.addr[1]
  probe.close
  pid = spawn(bin, '-p', port.to_s, '-l', '127.0.0.1', '-D', "#{dir}/dev.dat",
              '--device-size', '64M', '-m', '8', %i[out err] => "#{dir}/server.log")
  begin
    50.times do
      break if (TCPSocket.new('127.0.0.1', port).close rescue false).nil?
      sleep 0.1
    end
    dc = Dalli::Client.new("127.0.0.1:#{port}", socket_timeout: 2)
    check('set/get', (dc.set('d.k', 'hello') && dc.get('d.k')), 'hello')
    check('marshal', (dc.set('d.obj', { 'a' => [1, 2] }) && dc.get('d.obj')), { 'a' => [1, 2] })
    check('miss', dc.get('d.missing'), nil)
    check('add existing', dc.add('d.k', 'x'), false)
    check('add new', dc.add('d.new', 'n').is_a?(Integer), true)
    # dalli 3.0.6 reads a refused replace as cas 0 and a delete miss as nil (same with memcached).
    check('replace missing', dc.replace('d.none', 'x'), 0)
    check('not replaced', dc.get('d.none'), nil)
    check('replace', dc.replace('d.new', 'r').is_a?(Integer), true)
    check('get_multi', dc.get_multi('d.k', 'd.missing', 'd.new'), { 'd.k' => 'hello', 'd.new' => 'r' })
    check('cas', dc.cas('d.k') { |v| v + '!' }.is_a?(Integer), true)
    check('after cas', dc.get('d.k'), 'hello!')
    _, cas = dc.get_cas('d.k')
    check('set_cas stale', dc.set_cas('d.k', 'x', cas + 1), false)
    check('set_cas', dc.set_cas('d.k', 'y', cas).is_a?(Integer), true)
    dc.set('d.raw', 'mid', 0, raw: true)
    check('append', dc.append('d.raw', '>'), true)
    check('prepend', dc.prepend('d.raw', '<'), true)
    check('raw get', dc.get('d.raw', raw: true), '<mid>')
    check('incr create', dc.incr('d.n', 1, nil, 10), 10)
    check('incr', dc.incr('d.n', 5), 15)
    check('decr', dc.decr('d.n', 20), 0)
    check('incr no create', dc.incr('d.nope', 1), nil)
    check('touch', dc.touch('d.k', 100), true)
    check('gat', dc.gat('d.k', 100), 'y')
    check('delete', dc.delete('d.k'), true)
    check('delete again', dc.delete('d.k'), nil)
    check('fetch', dc.fetch('d.f') { 'computed' }, 'computed')
    check('fetch cached', dc.fetch('d.f') { 'other' }, 'computed')
    big = 'v' * 300_000
    check('big value', (dc.set('d.big', big) && dc.get('d.big')), big)
    many = (1..300).to_h { |i| ["d.m#{i}", "value #{i}"] }
    many.each { |k, v| dc.set(k, v) }
    check('multi 300', dc.get_multi(*many.keys), many)
    check('quiet multi', (dc.multi { 20.times { |i| dc.set("d.q#{i}", i) } } && dc.get('d.q19')), 19)
    stats = dc.stats.values.first
    check('stats pid', stats['pid'].to_i.positive?, true)
    check('stats get_hits', stats['get_hits'].to_i.positive?, true)
    check('version', dc.version.values.first.start_with?('1.6'), true)
    check('flush', dc.flush.all?, true)
    check('after flush', dc.get('d.f'), nil)
    dc.close
  ensure
    Process.kill('TERM', pid)
    Process.wait(pid)
  end
  system('tail', '-20', "#{dir}/server.log") if $failed
end
if $failed
  exit 1
end
puts 'dalli: all checks passed'

#!/usr/bin/perl
# Debian's Cache::Memcached::Fast (libcache-memcached-fast-perl, an ASCII-protocol client in C)
# against ssdcached, over TCP and over the unix socket: set/get, multi-get and the *_multi forms,
# add/replace/append/prepend, delete, incr/decr, gets/cas, touch, a value of about 500 KB, Perl
# structures (Storable), server_versions, flush_all. Run by run_client.sh, which starts the server
# and names it in the environment (SSDC_HOST, SSDC_PORT, SSDC_SOCKET).
use strict;
use warnings;

use Cache::Memcached::Fast;

my @failed;

sub check {
  my ($what, $got, $want) = @_;
  $got  = 'undef' unless defined $got;
  $want = 'undef' unless defined $want;
  return if $got eq $want;
  push @failed, $what;
  print STDERR "FAIL $what: got '$got', want '$want'\n";
}

# A true or false reply as 1 or 0 (the module answers '' for false).
sub b { return $_[0] ? 1 : 0 }

sub exercise {
  my ($m, $tag) = @_;
  my $k = "$tag:k";
  check("$tag set",      b($m->set($k, 'hello')), 1);
  check("$tag get",      $m->get($k),          'hello');
  check("$tag get miss", $m->get("$tag:missing"), undef);
  $m->set("$tag:h", { a => [ 1, 2 ] });
  my $h = $m->get("$tag:h");
  check("$tag structure", join(',', @{ $h->{a} || [] }), '1,2');
  check("$tag add existing",   b($m->add($k, 'x')),            0);
  check("$tag add new",        b($m->add("$tag:new", 'n')),     1);
  check("$tag replace missing", b($m->replace("$tag:none", 'x')), 0);
  check("$tag replace",        b($m->replace("$tag:new", 'r')), 1);
  check("$tag append",         b($m->append("$tag:new", '>')),  1);
  check("$tag prepend",        b($m->prepend("$tag:new", '<')), 1);
  check("$tag after append/prepend", $m->get("$tag:new"), '<r>');

  my @keys = map {"$tag:m$_"} 1 .. 100;
  my @res  = $m->set_multi(map { [ $_, "value $_" ] } @keys);
  check("$tag set_multi", scalar(grep {$_} @res), 100);
  my $got = $m->get_multi(@keys, "$tag:missing");
  check("$tag get_multi count", scalar(keys %$got), 100);
  check("$tag get_multi value", $got->{"$tag:m7"}, "value $tag:m7");

  check("$tag delete",       b($m->delete($k)), 1);
  check("$tag delete again", b($m->delete($k)), 0);
  check("$tag get deleted",  $m->get($k),    undef);

  $m->set("$tag:n", 10);
  check("$tag incr",         $m->incr("$tag:n", 5),  15);
  check("$tag decr",         $m->decr("$tag:n", 20) + 0, 0);
  check("$tag incr missing", b($m->incr("$tag:nope", 1)), 0);

  my $cas_val = $m->gets("$tag:new");
  check("$tag gets", ref($cas_val) eq 'ARRAY' ? $cas_val->[1] : 'no reply', '<r>');
  if (ref($cas_val) eq 'ARRAY') {
    check("$tag cas stale", b($m->cas("$tag:new", $cas_val->[0] + 1, 'x')), 0);
    check("$tag cas",       b($m->cas("$tag:new", $cas_val->[0], 'swapped')), 1);
    check("$tag cas again", b($m->cas("$tag:new", $cas_val->[0], 'y')), 0);
    check("$tag after cas", $m->get("$tag:new"), 'swapped');
  }
  my $gm = $m->gets_multi("$tag:new", "$tag:m1");
  check("$tag gets_multi", scalar(keys %$gm), 2);

  check("$tag touch",         b($m->touch("$tag:new", 300)),     1);
  check("$tag touch missing", b($m->touch("$tag:missing", 300)), 0);

  my $big = join('', map { chr(int(rand(256))) } 1 .. 1000) x 500;
  check("$tag large set", b($m->set("$tag:big", $big)), 1);
  my $back = $m->get("$tag:big");
  check("$tag large get", defined($back) && $back eq $big ? 'same' : 'different', 'same');
}

my $host   = $ENV{SSDC_HOST}   or die "SSDC_HOST not set (run by run_client.sh)\n";
my $port   = $ENV{SSDC_PORT}   or die "SSDC_PORT not set\n";
my $socket = $ENV{SSDC_SOCKET} or die "SSDC_SOCKET not set\n";
print STDERR "Cache::Memcached::Fast $Cache::Memcached::Fast::VERSION\n";

my %options = (utf8 => 0, io_timeout => 5, connect_timeout => 2, max_size => 1024 * 1024);
for my $server ([ 'tcp', "$host:$port" ], [ 'unix', $socket ]) {
  my ($name, $address) = @$server;
  my $m = Cache::Memcached::Fast->new({ servers => [$address], %options });
  exercise($m, $name);
  my $versions = $m->server_versions;
  check("$name version", ($versions->{$address} // '') =~ /^1\.6\./ ? 'ok' : 'bad', 'ok');
  $m->disconnect_all;
}
my $m = Cache::Memcached::Fast->new({ servers => ["$host:$port"], %options });
check('flush_all',            scalar(grep {$_} values %{ $m->flush_all }), 1);
check('nothing after flush', $m->get('tcp:new'), undef);

if (@failed) {
  print STDERR scalar(@failed) . " checks failed\n";
  exit 1;
}
print "Cache::Memcached::Fast: every check passed on tcp, unix\n";

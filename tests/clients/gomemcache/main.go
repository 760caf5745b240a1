// Debian's gomemcache (golang-github-bradfitz-gomemcache-dev, an ASCII-protocol client in Go)
// against ssdcached over TCP, the IPv6 loopback and the unix socket: Set/Get, GetMulti,
// Add/Replace, Delete, Increment/Decrement, CompareAndSwap, Touch, a value of about 500 KB,
// FlushAll. Built and run by test_gomemcache.sh under run_client.sh, which names the server in
// the environment (SSDC_HOST, SSDC_PORT, SSDC_IPV6, SSDC_SOCKET).
package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"reflect"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

var failed []string

func check(what string, got, want interface{}) {
	if !reflect.DeepEqual(got, want) {
		failed = append(failed, what)
		fmt.Fprintf(os.Stderr, "FAIL %s: got %#v, want %#v\n", what, got, want)
	}
}

func exercise(mc *memcache.Client, tag string) {
	k := tag + ":k"
	check(tag+" set", mc.Set(&memcache.Item{Key: k, Value: []byte("hello"), Flags: 7}), nil)
	it, err := mc.Get(k)
	check(tag+" get", err, nil)
	if err == nil {
		check(tag+" get value", string(it.Value), "hello")
		check(tag+" get flags", it.Flags, uint32(7))
	}
	_, err = mc.Get(tag + ":missing")
	check(tag+" get miss", err, memcache.ErrCacheMiss)
	check(tag+" add existing", mc.Add(&memcache.Item{Key: k, Value: []byte("x")}),
		memcache.ErrNotStored)
	check(tag+" add new", mc.Add(&memcache.Item{Key: tag + ":new", Value: []byte("n")}), nil)
	check(tag+" replace missing", mc.Replace(&memcache.Item{Key: tag + ":none", Value: []byte("x")}),
		memcache.ErrNotStored)
	check(tag+" replace", mc.Replace(&memcache.Item{Key: tag + ":new", Value: []byte("r")}), nil)

	keys := []string{}
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("%s:m%d", tag, i)
		keys = append(keys, key)
		mc.Set(&memcache.Item{Key: key, Value: []byte("value " + key)})
	}
	got, err := mc.GetMulti(append(keys, tag+":missing"))
	check(tag+" getmulti", err, nil)
	check(tag+" getmulti count", len(got), 100)
	if it := got[tag+":m42"]; it != nil {
		check(tag+" getmulti value", string(it.Value), "value "+tag+":m42")
	}

	check(tag+" delete", mc.Delete(k), nil)
	check(tag+" delete again", mc.Delete(k), memcache.ErrCacheMiss)

	mc.Set(&memcache.Item{Key: tag + ":n", Value: []byte("10")})
	n, err := mc.Increment(tag+":n", 5)
	check(tag+" incr", []interface{}{n, err}, []interface{}{uint64(15), nil})
	n, err = mc.Decrement(tag+":n", 20)
	check(tag+" decr", []interface{}{n, err}, []interface{}{uint64(0), nil})
	_, err = mc.Increment(tag+":nope", 1)
	check(tag+" incr missing", err, memcache.ErrCacheMiss)

	it, err = mc.Get(tag + ":new")
	check(tag+" get for cas", err, nil)
	if err == nil {
		it.Value = []byte("swapped")
		check(tag+" cas", mc.CompareAndSwap(it), nil)
		it.Value = []byte("again")
		check(tag+" cas stale", mc.CompareAndSwap(it), memcache.ErrCASConflict)
		it, err = mc.Get(tag + ":new")
		if err == nil {
			check(tag+" after cas", string(it.Value), "swapped")
		}
	}
	check(tag+" cas missing", mc.CompareAndSwap(&memcache.Item{Key: tag + ":nokey"}),
		memcache.ErrCacheMiss)
	check(tag+" touch", mc.Touch(tag+":new", 300), nil)
	check(tag+" touch missing", mc.Touch(tag+":missing", 300), memcache.ErrCacheMiss)

	big := make([]byte, 500000)
	rand.Read(big)
	check(tag+" large set", mc.Set(&memcache.Item{Key: tag + ":big", Value: big}), nil)
	it, err = mc.Get(tag + ":big")
	check(tag+" large get", err == nil && bytes.Equal(it.Value, big), true)
}

func main() {
	host, port := os.Getenv("SSDC_HOST"), os.Getenv("SSDC_PORT")
	ipv6, socket := os.Getenv("SSDC_IPV6"), os.Getenv("SSDC_SOCKET")
	if host == "" || port == "" || socket == "" {
		fmt.Fprintln(os.Stderr, "SSDC_HOST, SSDC_PORT, SSDC_SOCKET not set (run by run_client.sh)")
		os.Exit(1)
	}
	servers := [][2]string{{"tcp", net.JoinHostPort(host, port)}, {"unix", socket}}
	if ipv6 != "" {
		servers = append(servers, [2]string{"ipv6", net.JoinHostPort(ipv6, port)})
	}
	for _, s := range servers {
		mc := memcache.New(s[1])
		mc.Timeout = 5 * time.Second // the default 100 ms is short for 500 KB on a busy machine
		exercise(mc, s[0])
	}
	mc := memcache.New(net.JoinHostPort(host, port))
	mc.Timeout = 5 * time.Second
	check("flush all", mc.FlushAll(), nil)
	_, err := mc.Get("tcp:new")
	check("nothing after flush", err, memcache.ErrCacheMiss)
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "gomemcache: %d checks failed\n", len(failed))
		os.Exit(1)
	}
	fmt.Printf("gomemcache: every check passed on %d endpoints\n", len(servers))
}

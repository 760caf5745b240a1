<?php
// One request of a PHP application that keeps its sessions in memcached (php-memcached's session
// handler, with locking): php php_session_request.php SESSION_ID HOLD_SECONDS [destroy]
// Counts the requests of the session, holds the session (and its lock) HOLD_SECONDS before
// writing it back, prints the count. test_php_sessions.sh sets the handler with -d flags.
session_id($argv[1]);
if (!session_start()) {
    fwrite(STDERR, "session_start failed\n");
    exit(1);
}
if (($argv[3] ?? '') === 'destroy') {
    echo session_destroy() ? "destroyed\n" : "not destroyed\n";
    exit(0);
}
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$_SESSION['blob'] = str_repeat('s', 20000);
usleep((int) ((float) $argv[2] * 1000000));
echo $_SESSION['n'], "\n";
session_write_close();

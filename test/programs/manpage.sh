#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# doc/allocator.3 cannot go stale: its lists are compared with the code's own tables, both ways.
#   - MALLCTL NAMESPACE: exactly the leaves of the mallctl tree (src/ctl.c, src/ctl_stats.c), as
#     tbin/unit/doc_names --mallctl prints them, with the access the leaf answers to (r-, rw, -w,
#     --) and a type whose size is what a read returns;
#   - OPTIONS: exactly the options of conf.h's CONF_OPTIONS table (doc_names --options), same types;
#     the README's options table: the same names;
#   - SYNOPSIS: every function, variable and MALLOCX_/MALLCTL_ macro include/allocator.h declares;
#   - DIAGNOSTICS: exactly the messages src/ prints (io_fatal, io_warn, "<allocator>:" io_printf,
#     conf_report), each conversion of the format matching anything;
#   - groff -man -ww -z doc/allocator.3 prints no warning (skipped, with a line saying so, when
#     groff is not installed: Debian package groff-base).
# Every mismatch is listed, then the test fails.
. "$(dirname "$0")/common.bash"

page=$TOP_SRCDIR/doc/allocator.3
readme=$TOP_SRCDIR/README.md
header=$TOP_SRCDIR/include/allocator.h
names=$TOP_BUILDDIR/tbin/unit/doc_names
[ -f "$page" ] || fail "$page is missing"
command -v perl >/dev/null 2>&1 || skip "perl is not installed (Debian package perl-base)"

# Run alone (make check TESTS=programs/manpage), the unit test's binary may not be built yet.
if [ ! -x "$names" ]; then
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$TOP_BUILDDIR" --no-print-directory -s \
        tbin/unit/doc_names >"$TEST_TMPDIR/make.log" 2>&1 ||
        { cat "$TEST_TMPDIR/make.log" >&2; fail "could not build tbin/unit/doc_names"; }
fi
"$names" --mallctl >"$TEST_TMPDIR/mallctl.txt" || fail "doc_names --mallctl failed"
"$names" --options >"$TEST_TMPDIR/options.txt" || fail "doc_names --options failed"
[ "$(wc -l <"$TEST_TMPDIR/mallctl.txt")" -gt 100 ] || fail "doc_names listed too few mallctl names"
[ "$(wc -l <"$TEST_TMPDIR/options.txt")" -gt 20 ] || fail "doc_names listed too few options"

PTR_SIZE=$(($(getconf LONG_BIT) / 8)) perl -w - "$page" "$TEST_TMPDIR/mallctl.txt" \
    "$TEST_TMPDIR/options.txt" "$readme" "$header" "$TOP_SRCDIR"/src/*.c \
    >"$TEST_TMPDIR/report" <<'PERL'
use strict;
my ($page, $mallctl, $options, $readme, $header, @srcs) = @ARGV;
my @problems;
sub problem { push @problems, join('', @_); }
sub slurp { my $f = shift; open(my $h, '<', $f) or die "$f: $!"; local $/; my $s = <$h>; $s }
# Text of a man-page argument without font changes and escapes.
sub plain {
    my $s = shift;
    $s =~ s/\\f[BIRP]//g;
    $s =~ s/\\\(dq/"/g;
    $s =~ s/\\-/-/g;
    $s =~ s/\\e/\\/g;
    $s =~ s/\\ / /g;
    return $s;
}

# The page, by section; an entry is the macro line after .TP or .TQ.
my (%section, %entries);
my ($sh, $prev) = ('', '');
for my $line (split /\n/, slurp($page)) {
    if ($line =~ /^\.SH\s+"?([^"]*)"?$/) { $sh = $1; $prev = ''; next; }
    $section{$sh} .= "$line\n";
    push @{$entries{$sh}}, $line if $prev =~ /^\.T[PQ]\s*$/;
    $prev = $line;
}
for my $s ('SYNOPSIS', 'MALLCTL NAMESPACE', 'OPTIONS', 'DIAGNOSTICS') {
    problem("page: no section $s") unless defined $section{$s};
}

# mallctl names: .BR "name" " (type) access"
my %size = (bool => 1, unsigned => 4, uint32_t => 4, int => 4, size_t => 8, ssize_t => 8,
            uint64_t => 8);
my %doc;
for my $e (@{$entries{'MALLCTL NAMESPACE'}}) {
    if ($e =~ /^\.BR "([^"]+)" " \(([^)]*)\) ((?:r|\\-)(?:w|\\-))"$/) {
        my ($name, $type, $access) = ($1, $2, plain($3));
        problem("page: mallctl $name documented twice") if $doc{$name};
        $doc{$name} = [$type, $access];
    } else {
        problem("page: MALLCTL NAMESPACE entry not in the form .BR \"name\" \" (type) access\": $e");
    }
}
my %code;
for my $l (split /\n/, slurp($mallctl)) {
    my ($name, $access, $bytes) = split / /, $l;
    $code{$name} = 1;
    my $d = $doc{$name};
    if (!$d) { problem("mallctl $name ($access) is not documented in MALLCTL NAMESPACE"); next; }
    problem("mallctl $name: the page says $d->[1], the code answers $access")
        if $d->[1] ne $access;
    next if $bytes eq '-';
    my ($t) = split /,\s*/, $d->[0]; # "(unsigned, void *)": what is read, then what is written
    my $want = $t =~ /\*\s*$/ ? $ENV{PTR_SIZE} : $size{$t};
    if (!defined $want) {
        problem("mallctl $name: the page's type ($t) has no known size; a read returns $bytes bytes");
    } elsif ($want != $bytes) {
        problem("mallctl $name: the page's type ($t) is $want bytes, a read returns $bytes");
    }
}
for my $name (sort keys %doc) {
    problem("page documents mallctl $name, which the code does not have") unless $code{$name};
}

# Options: .BR "name" " (type, default: ...)"
my %odoc;
for my $e (@{$entries{'OPTIONS'}}) {
    if ($e =~ /^\.BR "([a-z_0-9]+)" " \(([^,]+), default: .+\)"$/) {
        problem("page: option $1 documented twice") if $odoc{$1};
        $odoc{$1} = $2;
    } else {
        problem("page: OPTIONS entry not in the form .BR \"name\" \" (type, default: ...)\": $e");
    }
}
my %ocode;
for my $l (split /\n/, slurp($options)) {
    my ($name, $type) = split /\t/, $l;
    $ocode{$name} = 1;
    if (!defined $odoc{$name}) { problem("option $name is not documented in OPTIONS"); next; }
    problem("option $name: the page says $odoc{$name}, the code $type") if $odoc{$name} ne $type;
}
for my $name (sort keys %odoc) {
    problem("page documents option $name, which the code does not have") unless $ocode{$name};
}

# README.md: the names in the first column of the table under "## Options".
my ($in, %rdoc) = (0);
for my $line (split /\n/, slurp($readme)) {
    if ($line =~ /^## /) { $in = $line =~ /^## Options\s*$/; next; }
    next unless $in && $line =~ /^\|([^|]*)\|/;
    my $cell = $1;
    $rdoc{$1} = 1 while $cell =~ /`([a-z_0-9]+)`/g;
}
problem("README.md: no options table under ## Options") unless %rdoc;
for my $name (sort keys %ocode) {
    problem("option $name is not in README.md's options table") unless $rdoc{$name};
}
for my $name (sort keys %rdoc) {
    problem("README.md's options table has $name, which the code does not have")
        unless $ocode{$name};
}

# include/allocator.h: functions, variables and public macros must be in the SYNOPSIS.
my $syn = plain($section{SYNOPSIS} // '');
my $h = slurp($header);
$h =~ s{/\*.*?\*/}{}gs;
my @decl;
push @decl, $1 while $h =~ /^(?!typedef|#|\s)[^(;{}]*?\b([a-z_][a-z_0-9]*)\s*\(/mg;
push @decl, $1 while $h =~ /^extern\b[^;]*?\b([a-z_][a-z_0-9]*)\s*(?:;|\)\s*\()/mg;
push @decl, $1 while $h =~ /^#define\s+((?:MALLOCX|MALLCTL)_[A-Z_0-9]+)/mg;
problem("include/allocator.h: found too few declarations") if @decl < 20;
for my $name (@decl) {
    problem("include/allocator.h declares $name; the SYNOPSIS does not show it")
        unless $syn =~ /(?<![A-Za-z_0-9])\Q$name\E(?![A-Za-z_0-9])/;
}

# Messages: the first argument (string literals) of each call that prints one.
my @formats;
for my $f (@srcs) {
    my $s = slurp($f);
    while ($s =~ /\b(io_fatal|io_warn|io_printf|conf_report)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)/g) {
        my ($fn, $lits) = ($1, $2);
        my $fmt = '';
        $fmt .= $1 while $lits =~ /"((?:[^"\\]|\\.)*)"/g;
        $fmt =~ s/\\n$//;
        $fmt =~ s/\\"/"/g;
        $fmt .= ': %s:%s' if $fn eq 'conf_report';
        next if $fn eq 'io_printf' && $fmt !~ s/^<allocator>: //;
        (my $where = $f) =~ s{.*/}{src/};
        push @formats, [$fmt, $where];
    }
}
problem("src: found too few messages") if @formats < 15;
my @msgs;
for my $e (@{$entries{DIAGNOSTICS}}) {
    if ($e =~ /^\.B "(.*)"$/) { push @msgs, [plain($1), 0]; }
    else { problem("page: DIAGNOSTICS entry not in the form .B \"message\": $e"); }
}
for my $fm (@formats) {
    my ($fmt, $where) = @$fm;
    my $re = join('.*', map { quotemeta } split(/%[-0-9.]*(?:ll|l|z)?[diuxscp]/, $fmt, -1));
    my $hit = 0;
    for my $m (@msgs) {
        if ($m->[0] =~ /^$re$/) { $m->[1] = 1; $hit = 1; }
    }
    problem("message \"$fmt\" ($where) is not listed in DIAGNOSTICS") unless $hit;
}
for my $m (@msgs) {
    problem("DIAGNOSTICS lists \"$m->[0]\", which src/ does not print") unless $m->[1];
}

printf "checked %d mallctl names, %d options, %d declarations, %d messages\n",
    scalar(keys %code), scalar(keys %ocode), scalar(@decl), scalar(@formats);
print "PROBLEM: $_\n" for @problems;
exit(@problems ? 1 : 0);
PERL
status=$?
cat "$TEST_TMPDIR/report"
[ "$status" -eq 0 ] || fail "doc/allocator.3 (or README.md) does not match the code (see above)"

command -v groff >/dev/null 2>&1 ||
    skip "groff is not installed (Debian package groff-base): the page's names match the code, its formatting was not checked"
groff -man -ww -z "$page" >"$TEST_TMPDIR/groff.out" 2>&1
rc=$?
if [ "$rc" -ne 0 ] || [ -s "$TEST_TMPDIR/groff.out" ]; then
    cat "$TEST_TMPDIR/groff.out" >&2
    fail "groff -man -ww -z $page: exit $rc, or warnings (above)"
fi
echo "groff -man -ww -z: no warnings"

package io.nemu.e2e.support;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A running {@code ctr events}: each line it prints becomes an {@link Event}. containerd 1.6's ctr
 * prints {@code <timestamp> <namespace> <topic> <event as JSON>}, the timestamp in Go's
 * {@code time.Time.String()} form ({@code 2026-11-26 08:39:58.898531406 +0000 UTC}; ctr runs with
 * TZ=UTC here so it always has that shape).
 */
public final class ContainerdEvents implements AutoCloseable {

    /** Namespace (and name prefix) of the harness's own subscription probes; their events are never handed out. */
    public static final String PROBE_NAMESPACE = "nemu-harness-probe";

    private static final Pattern LINE = Pattern.compile(
            "^(\\d{4}-\\d{2}-\\d{2} \\S+ [+-]\\d{4} \\S+) (\\S+) (/\\S*)(?: (.*))?$");
    private static final Object END = new Object();

    private final Containerd containerd;
    private final Process process;
    private final Path stderr;
    private final List<String> command;
    private final BlockingQueue<Object> pending = new LinkedBlockingQueue<>();
    private final List<Event> seen = new CopyOnWriteArrayList<>();
    private final Thread reader;
    private volatile boolean closed;

    /** One line of {@code ctr events}; {@code json} is empty for an event without a body. */
    public record Event(String timestamp, String namespace, String topic, String json, String line) {
        static Event parse(String line) {
            Matcher m = LINE.matcher(line);
            if (!m.matches()) {
                throw new IllegalArgumentException("not a ctr events line: " + line);
            }
            return new Event(m.group(1), m.group(2), m.group(3), m.group(4) == null ? "" : m.group(4), line);
        }
    }

    private ContainerdEvents(Containerd containerd, List<String> command) throws IOException {
        this.containerd = containerd;
        this.command = command;
        this.stderr = containerd.scratchDir().resolve("events-" + containerd.nextScratchId() + ".err");
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectError(stderr.toFile());
        pb.environment().put("PATH", containerd.searchPath());
        pb.environment().put("TZ", "UTC");
        this.process = pb.start();
        this.reader = new Thread(this::readLines, "ctr-events-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    static ContainerdEvents start(Containerd containerd, String... filters) {
        List<String> args = new ArrayList<>(List.of("events"));
        args.addAll(List.of(filters));
        if (filters.length > 0) {
            // Filters are or-ed: let the probe through whatever the caller asked for.
            args.add("namespace==" + PROBE_NAMESPACE);
        }
        ContainerdEvents events;
        try {
            events = new ContainerdEvents(containerd, containerd.ctrCommand(args.toArray(String[]::new)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start ctr events", e);
        }
        try {
            events.awaitSubscribed(Duration.ofSeconds(15));
        } catch (RuntimeException e) {
            events.close();
            throw e;
        }
        return events;
    }

    /**
     * ctr gives no sign that its Subscribe call is in place, so publish probe events (creating a
     * namespace publishes /namespaces/create) until one comes back.
     */
    private void awaitSubscribed(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int attempt = 0;
        List<String> created = new ArrayList<>();
        try {
            while (System.nanoTime() < deadline) {
                String name = PROBE_NAMESPACE + "-" + process.pid() + "-" + ++attempt;
                containerd.ctr("-n", PROBE_NAMESPACE, "namespaces", "create", name).requireOk();
                created.add(name);
                long until = Math.min(deadline, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(250 * attempt));
                while (System.nanoTime() < until) {
                    if (seen.stream().anyMatch(e -> e.namespace().equals(PROBE_NAMESPACE)
                            && e.json().contains("\"" + name + "\""))) {
                        return;
                    }
                    if (!process.isAlive()) {
                        throw new IllegalStateException(String.join(" ", command) + " exited with "
                                + process.exitValue() + ": " + stderrText());
                    }
                    Containerd.sleep(20);
                }
            }
            throw new IllegalStateException(String.join(" ", command) + " saw none of " + attempt
                    + " probe events within " + timeout.toSeconds() + " s; stderr: " + stderrText());
        } finally {
            for (String name : created) {
                containerd.ctr("-n", PROBE_NAMESPACE, "namespaces", "remove", name);
            }
        }
    }

    /** Probe creations come in PROBE_NAMESPACE; deleting a namespace publishes in the deleted one. */
    private static boolean isProbe(Event event) {
        return event.namespace().startsWith(PROBE_NAMESPACE);
    }

    private void readLines() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                Event event;
                try {
                    event = Event.parse(line);
                } catch (IllegalArgumentException e) {
                    event = new Event("", "", "", "", line);
                }
                seen.add(event);
                if (!isProbe(event)) {
                    pending.add(event);
                }
            }
        } catch (IOException e) {
            if (!closed) {
                pending.add(new UncheckedIOException("reading ctr events failed", e));
            }
        } finally {
            pending.add(END);
        }
    }

    /**
     * Takes events in arrival order until one matches; throws, listing what came instead, if none
     * does within {@code timeout} or ctr stops.
     */
    public Event await(String what, Predicate<Event> match, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> skipped = new ArrayList<>();
        while (true) {
            long left = deadline - System.nanoTime();
            Object next;
            try {
                next = left <= 0 ? null : pending.poll(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for " + what, e);
            }
            if (next == null) {
                throw new IllegalStateException("no event " + what + " within " + timeout.toMillis() + " ms; got "
                        + skipped);
            }
            if (next == END) {
                pending.add(END);
                throw new IllegalStateException("ctr events ended before " + what + "; got " + skipped
                        + "; stderr: " + stderrText());
            }
            if (next instanceof RuntimeException e) {
                throw e;
            }
            Event event = (Event) next;
            if (match.test(event)) {
                return event;
            }
            skipped.add(event.line());
        }
    }

    /** The next event on {@code topic} (e.g. {@code /tasks/exit}). */
    public Event awaitTopic(String topic, Duration timeout) {
        return await("on " + topic, e -> e.topic().equals(topic), timeout);
    }

    /** Every line read so far, probes included, in order. */
    public List<Event> seen() {
        return List.copyOf(seen);
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    private String stderrText() {
        try {
            return Files.readString(stderr, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return "(" + e.getMessage() + ")";
        }
    }

    /** Stops this ctr by its pid (SIGTERM, then SIGKILL). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        boolean gone = Containerd.stopProcess(process, Duration.ofSeconds(3));
        containerd.forget(this);
        try {
            reader.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(stderr);
        } catch (IOException ignored) {
            // Removed with containerd's directory.
        }
        if (!gone) {
            throw new IllegalStateException("ctr events pid " + process.pid() + " survived SIGKILL");
        }
    }
}

package io.nemu.shim.network;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs iproute2's {@code ip} and {@code tc} inside a network namespace through {@code nsenter --net=PATH}
 * (a child process enters the namespace, never a thread of the shim), and spells the command lines the
 * tcfilter model needs.
 */
public final class NetnsCommands {
    /** Where iproute2 and util-linux live on Debian; PATH is searched first. */
    private static final List<String> SYSTEM_DIRS = List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin");
    /** Handle of the ingress qdisc (tc's ffff:). */
    static final String INGRESS = "ffff:";

    private final Path netns;
    private final Duration timeout;

    public NetnsCommands(Path netns) {
        this(netns, Duration.ofSeconds(20));
    }

    NetnsCommands(Path netns, Duration timeout) {
        this.netns = netns;
        this.timeout = timeout;
    }

    public Path netns() {
        return netns;
    }

    /** What ran and how it ended. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    // ---- command lines (without the nsenter prefix)

    static List<String> addTap(String tap) {
        return List.of("ip", "tuntap", "add", "dev", tap, "mode", "tap");
    }

    static List<String> mtuUp(String dev, int mtu) {
        return List.of("ip", "link", "set", "dev", dev, "mtu", Integer.toString(mtu), "up");
    }

    static List<String> addIngress(String dev) {
        return List.of("tc", "qdisc", "add", "dev", dev, "handle", INGRESS, "ingress");
    }

    /** Everything arriving on {@code from} leaves through {@code to}: u32 match-all, mirred redirect. */
    static List<String> redirect(String from, String to) {
        return List.of("tc", "filter", "add", "dev", from, "parent", INGRESS, "protocol", "all", "u32", "match", "u8",
                "0", "0", "action", "mirred", "egress", "redirect", "dev", to);
    }

    /** Removing the ingress qdisc also removes its filters. */
    static List<String> delIngress(String dev) {
        return List.of("tc", "qdisc", "del", "dev", dev, "handle", INGRESS, "ingress");
    }

    static List<String> delLink(String dev) {
        return List.of("ip", "link", "del", "dev", dev);
    }

    static List<String> addrShow() {
        return List.of("ip", "-j", "addr", "show");
    }

    static List<String> routeShow(boolean v6) {
        return v6 ? List.of("ip", "-j", "-6", "route", "show") : List.of("ip", "-j", "-4", "route", "show");
    }

    static List<String> neighShow() {
        return List.of("ip", "-j", "neigh", "show");
    }

    static List<String> qdiscShow() {
        return List.of("tc", "-j", "qdisc", "show");
    }

    /** The full argv: nsenter into the namespace, then the tool by absolute path. */
    List<String> argv(List<String> command) {
        List<String> a = new ArrayList<>(List.of(tool("nsenter"), "--net=" + netns, "--"));
        a.add(tool(command.get(0)));
        a.addAll(command.subList(1, command.size()));
        return a;
    }

    static String tool(String name) {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(":")));
        }
        dirs.addAll(SYSTEM_DIRS);
        for (String d : dirs) {
            if (d.isEmpty()) {
                continue;
            }
            Path p = Path.of(d, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return name;
    }

    /** Runs the command in the namespace; the exit code is the caller's to judge. */
    public Result exec(List<String> command) throws IOException {
        List<String> argv = argv(command);
        Process p;
        try {
            p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new IOException(String.join(" ", command) + " in " + netns + ": cannot start: " + e.getMessage(), e);
        }
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        String out = readAll(p.getInputStream());
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " in " + netns + " did not finish within "
                        + timeout.toSeconds() + " s");
            }
            return new Result(command, p.exitValue(), out, err.get(5, TimeUnit.SECONDS).strip());
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted running " + String.join(" ", command), e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException(String.join(" ", command) + ": cannot read its errors: " + e, e);
        }
    }

    /** Runs the command and returns its output; a non-zero exit is an error carrying the tool's message. */
    public String run(List<String> command) throws IOException {
        Result r = exec(command);
        if (!r.ok()) {
            throw new IOException("`" + String.join(" ", command) + "` in " + netns + " failed (exit " + r.exitCode()
                    + "): " + (r.stderr().isEmpty() ? r.stdout().strip() : r.stderr()));
        }
        return r.stdout();
    }

    private static String readAll(InputStream in) {
        try (in) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            in.transferTo(b);
            return b.toString(StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}

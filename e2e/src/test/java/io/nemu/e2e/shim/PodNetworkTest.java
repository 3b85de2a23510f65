package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.firmware.GuestImage;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Pod networking in the tcfilter model with real containerd, our shim and a real VM, without CRI: the test
 * plays CNI (a netns of its own, a veth pair on a private /30, the pod end in the netns with a default route
 * via the host end) and runs {@code ctr run --with-ns network:PATH}. Traffic goes only to the two addresses
 * the test made.
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PodNetworkTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(180);
    private static final String MARKER = "hello-from-the-host";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();

    private Path work;
    private final Distribution dist = Distribution.locate();
    private GuestImage image;
    private final long pid = ProcessHandle.current().pid();
    private final String netnsName = "nemu-nt-" + pid;
    private final Path netns = Path.of("/var/run/netns", netnsName);
    private final String hostEnd = "nnt" + (pid % 100000) + "h";
    private boolean netnsMade;
    private String hostIp;
    private String podIp;
    private HttpServer hostServer;
    private Containerd containerd;
    private Path config;
    private int rootfsCount;

    @BeforeAll
    void setUp() throws Exception {
        image = GuestImages.assumeOfDistribution(dist, true);
        work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-podnet-")));
        LEFTOVERS.netns(netnsName);
        LEFTOVERS.link(hostEnd);
        makePodNetns();
        hostServer = HttpServer.create(new InetSocketAddress(hostIp, 0), 4);
        hostServer.createContext("/hello", ex -> {
            byte[] b = MARKER.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        hostServer.start();
        config = dist.writeConfig(work, "", "dial_timeout = 90");
        containerd = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start());
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (containerd != null) {
                // What the shim said about the network (its log reaches containerd's).
                containerd.logTail(4000).lines().filter(l -> l.contains("PodNetwork") || l.contains("GuestNetwork")
                        || l.contains("agent answered")).forEach(l -> System.out.println("shim: " + l));
                containerd.close();
            }
        } finally {
            if (hostServer != null) {
                hostServer.stop(0);
            }
            if (netnsMade) {
                // The veth pair goes with the namespace; the host end is removed too in case something holds it.
                run(List.of("ip", "netns", "del", netnsName));
                run(List.of("ip", "link", "del", hostEnd));
            }
            FileTrees.delete(work);
        }
    }

    /** What CNI's bridge plugin would leave, minus the bridge: netns, veth, /30, default route. */
    private void makePodNetns() throws Exception {
        String[] ips = freeSlash30(0);
        hostIp = ips[0];
        podIp = ips[1];
        sh("ip", "netns", "add", netnsName);
        netnsMade = true;
        addVeth(netnsName, hostEnd, "eth0", hostIp, podIp);
        sh("ip", "-n", netnsName, "link", "set", "lo", "up");
        sh("ip", "-n", netnsName, "route", "add", "default", "via", hostIp);
        System.out.println("pod netns " + netns + ": eth0 " + podIp + "/30, host end " + hostEnd + " " + hostIp);
    }

    /** A free 10.213.x.0/30 (host end .1, pod end .2), the {@code skip}-th free one from this process's pick. */
    private String[] freeSlash30(int skip) throws Exception {
        String routes = sh("ip", "-4", "route", "show");
        for (int i = 0; i < 250; i++) {
            int c = 20 + (int) ((pid + i) % 230);
            if (!routes.contains("10.213." + c + ".") && skip-- == 0) {
                return new String[] {"10.213." + c + ".1", "10.213." + c + ".2"};
            }
        }
        throw new IllegalStateException("no free 10.213.x.0/30 for the test: " + routes);
    }

    private static void addVeth(String ns, String hostName, String podName, String hostAddr, String podAddr)
            throws Exception {
        assumeTrue(hostName.length() <= 15, "interface name too long: " + hostName);
        sh("ip", "link", "add", hostName, "type", "veth", "peer", "name", podName, "netns", ns);
        sh("ip", "addr", "add", hostAddr + "/30", "dev", hostName);
        sh("ip", "link", "set", hostName, "up");
        sh("ip", "-n", ns, "addr", "add", podAddr + "/30", "dev", podName);
        sh("ip", "-n", ns, "link", "set", podName, "up");
    }

    private static String sh(String... cmd) throws Exception {
        Containerd.CtrResult r = run(List.of(cmd));
        if (r.exitCode() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + r.stderr() + r.stdout());
        }
        return r.stdout();
    }

    private static Containerd.CtrResult run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        java.util.concurrent.CompletableFuture<String> err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " did not finish");
        }
        return new Containerd.CtrResult(cmd, p.exitValue(), out, err.get(5, TimeUnit.SECONDS));
    }

    private String inNetns(String... cmd) throws Exception {
        return inNs(netnsName, cmd);
    }

    private static String inNs(String ns, String... cmd) throws Exception {
        List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        c.addAll(List.of(cmd));
        return sh(c.toArray(new String[0]));
    }

    /** Interface names in the pod netns. */
    private List<String> netnsLinks() throws Exception {
        return netnsLinks(netnsName);
    }

    private static List<String> netnsLinks(String ns) throws Exception {
        List<String> out = new ArrayList<>();
        for (JsonNode l : new ObjectMapper().readTree(inNs(ns, "ip", "-j", "link", "show"))) {
            out.add(l.path("ifname").asText());
        }
        return out;
    }

    private List<String> ingressQdiscs() throws Exception {
        return ingressQdiscs(netnsName);
    }

    private static List<String> ingressQdiscs(String ns) throws Exception {
        List<String> out = new ArrayList<>();
        for (JsonNode q : new ObjectMapper().readTree(inNs(ns, "tc", "-j", "qdisc", "show"))) {
            if (q.path("kind").asText().equals("ingress")) {
                out.add(q.path("dev").asText());
            }
        }
        return out;
    }

    private void assertNetnsClean(String id) throws Exception {
        assertNetnsClean(id, netnsName, List.of("lo", "eth0"));
    }

    private static void assertNetnsClean(String id, String ns, List<String> made) throws Exception {
        Leftovers.await(() -> netnsLinks(ns).equals(made));
        assertEquals(made, netnsLinks(ns), "only what the test made is left in the netns");
        assertEquals(List.of(), ingressQdiscs(ns), "no ingress qdisc left");
        Leftovers.await(() -> Sandboxes.vmProcesses(id).isEmpty());
        assertEquals(List.of(), Sandboxes.vmProcesses(id), "no QEMU/virtiofsd of " + id + " left");
    }

    private Path rootfs() throws IOException {
        Path r = Rootfs.busybox(work.resolve("rootfs" + rootfsCount++));
        Files.createDirectories(r.resolve("www"));
        Files.writeString(r.resolve("www/index.html"), "served-from-the-pod\n");
        return r;
    }

    private List<String> ctrRun(String... tail) {
        return ctrRun(config, tail);
    }

    private List<String> ctrRun(Path configFile, String... tail) {
        return ctrRun(configFile, netns, tail);
    }

    private static List<String> ctrRun(Path configFile, Path ns, String... tail) {
        List<String> a = new ArrayList<>(List.of("run", "--runtime", RUNTIME, "--runtime-config-path",
                configFile.toString(), "--with-ns", "network:" + ns));
        a.addAll(List.of(tail));
        return a;
    }

    private Containerd.CtrResult ctr(List<String> args) {
        return containerd.ctr(RUN, args);
    }

    private String id(String base) {
        return LEFTOVERS.sandbox(base + "-" + pid);
    }

    @Test
    void theGuestOwnsThePodIpAndReachesTheHost() throws Exception {
        String id = id("nw1");
        String b = "/bin/busybox";
        String script = b + " ip -o -4 addr show dev eth0; " + b + " ip -4 route; "
                + b + " ping -c 1 -W 10 " + hostIp + " >/dev/null && echo PING-OK; "
                + b + " wget -q -O - http://" + hostIp + ":" + hostServer.getAddress().getPort() + "/hello; echo; "
                + b + " uname -r";
        long t0 = System.nanoTime();
        Containerd.CtrResult r = ctr(ctrRun("--rm", "--rootfs", rootfs().toString(), id, "/bin/sh", "-c", script));
        System.out.println("ctr run with the pod netns: " + (System.nanoTime() - t0) / 1_000_000 + " ms, exit "
                + r.exitCode() + ":\n" + r.stdout() + r.stderr());
        assertEquals(0, r.exitCode(), r.stderr());
        String out = r.stdout();
        assertTrue(out.contains("inet " + podIp + "/30"), "the guest's eth0 has the pod IP: " + out);
        assertTrue(out.contains("default via " + hostIp + " dev eth0"), "default route via the host end: " + out);
        assertTrue(out.contains("PING-OK"), "ping to the host end: " + out);
        assertTrue(out.contains(MARKER), "HTTP GET to the host end: " + out);
        String host = ShimScenarios.hostKernel();
        List<String> lines = out.strip().lines().toList();
        String guestKernel = lines.get(lines.size() - 1).strip();
        assertEquals(image.kernelRelease(), guestKernel);
        assertNotEquals(host, guestKernel, "it ran in the VM");
        assertNetnsClean(id);
    }

    @Test
    void httpdInADetachedPodAnswersTheHost() throws Exception {
        String id = id("nw2");
        long t0 = System.nanoTime();
        ctr(ctrRun("-d", "--rootfs", rootfs().toString(), id, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"))
                .requireOk();
        assertTrue(netnsLinks().contains("tap0_kata"), "tap beside the veth: " + netnsLinks());
        assertEquals(List.of("eth0", "tap0_kata"), ingressQdiscs());
        String body = null;
        String last = "";
        URI uri = URI.create("http://" + podIp + ":8080/index.html");
        for (int i = 0; i < 60 && body == null; i++) {
            try {
                HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
                c.setConnectTimeout(2000);
                c.setReadTimeout(5000);
                try (InputStream in = c.getInputStream()) {
                    body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            } catch (IOException e) {
                last = e.toString();
                Thread.sleep(1000);
            }
        }
        System.out.println("host GET " + uri + " answered " + (System.nanoTime() - t0) / 1_000_000
                + " ms after ctr run -d: " + body);
        assertEquals("served-from-the-pod\n", body, "no answer from the pod's httpd: " + last);
        containerd.killTask(id, RUN);
        ctr(List.of("task", "rm", id)).requireOk();
        ctr(List.of("c", "rm", id)).requireOk();
        assertNetnsClean(id);
    }

    @Test
    void aKilledShimsTapIsRemovedByDelete() throws Exception {
        String id = id("nw3");
        ContainerdEvents events = containerd.events();
        ctr(ctrRun("-d", "--rootfs", rootfs().toString(), id, "/bin/sleep", "600")).requireOk();
        assertTrue(netnsLinks().contains("tap0_kata"), netnsLinks().toString());
        assertTrue(Files.readString(SandboxPaths.of(id).state().resolve("network.json")).contains("tap0_kata"));
        ProcessHandle.of(Sandboxes.pid(id, "daemon")).orElseThrow().destroyForcibly();
        // containerd runs the shim's delete command, which removes what network.json lists.
        events.await("exit of " + id, e -> e.topic().equals("/tasks/exit")
                && e.json().contains("\"container_id\":\"" + id + "\""), Duration.ofSeconds(60));
        assertNetnsClean(id);
        assertFalse(Files.exists(SandboxPaths.of(id).state()));
        ctr(List.of("c", "rm", id));
    }

    @Test
    void q35GuestGetsAPciNic() throws Exception {
        String id = id("nw4");
        Path dir = Files.createDirectories(work.resolve("q35"));
        Path q35 = dist.writeConfig(dir, "machine_type = \"virt-hotplug\"", "dial_timeout = 90");
        String b = "/bin/busybox";
        long t0 = System.nanoTime();
        Containerd.CtrResult r = ctr(ctrRun(q35, "--rm", "--rootfs", rootfs().toString(), id, "/bin/sh", "-c",
                b + " ip -o -4 addr show dev eth0; " + b + " ping -c 1 -W 10 " + hostIp + " >/dev/null && echo PING-OK; "
                        + b + " readlink -f /sys/class/net/eth0/device"));
        System.out.println("q35 ctr run with the pod netns: " + (System.nanoTime() - t0) / 1_000_000 + " ms, exit "
                + r.exitCode() + ":\n" + r.stdout() + r.stderr());
        assertEquals(0, r.exitCode(), r.stderr());
        assertTrue(r.stdout().contains("inet " + podIp + "/30"), r.stdout());
        assertTrue(r.stdout().contains("PING-OK"), r.stdout());
        assertTrue(r.stdout().contains("/pci0000:00/"), "eth0 is a PCI device on q35: " + r.stdout());
        assertNetnsClean(id);
    }

    /**
     * A pod with two interfaces (as Multus would give it), booted and then cloned from a template: the guest has
     * both, each with its pod address and the pod's MAC, and reaches the host end of each; the clone's template
     * carries two NICs.
     */
    @Test
    void twoInterfacesBootedAndCloned() throws Exception {
        String ns = "nemu-nt2-" + pid;
        LEFTOVERS.netns(ns);
        String hostA = LEFTOVERS.link("nnt" + (pid % 100000) + "a");
        String hostB = LEFTOVERS.link("nnt" + (pid % 100000) + "b");
        Path templates = Path.of("/dev/shm/nemu-e2e-nics-" + pid);
        try {
            String[] a = freeSlash30(1);
            String[] b = freeSlash30(2);
            sh("ip", "netns", "add", ns);
            addVeth(ns, hostA, "eth0", a[0], a[1]);
            addVeth(ns, hostB, "eth1", b[0], b[1]);
            sh("ip", "-n", ns, "link", "set", "lo", "up");
            sh("ip", "-n", ns, "route", "add", "default", "via", a[0]);
            String macs = inNs(ns, "cat", "/sys/class/net/eth0/address", "/sys/class/net/eth1/address");
            Path dir = Files.createDirectories(work.resolve("nics"));
            Path booted = dist.writeConfig(dir, "", "dial_timeout = 90");
            Path cloned = Files.createDirectories(work.resolve("nics-clone")).resolve("configuration.toml");
            Files.writeString(cloned, io.nemu.e2e.support.CriEnv.withTemplates(Files.readString(booted), templates));
            String bb = "/bin/busybox";
            String script = bb + " ip -o -4 addr show; " + bb + " cat /sys/class/net/eth0/address /sys/class/net/eth1/address; "
                    + bb + " ping -c 1 -W 10 " + a[0] + " >/dev/null && echo PING-A-OK; "
                    + bb + " ping -c 1 -W 10 " + b[0] + " >/dev/null && echo PING-B-OK";
            for (Path config : List.of(booted, cloned)) {
                boolean clone = config.equals(cloned);
                String id = id(clone ? "nw6" : "nw5");
                long t0 = System.nanoTime();
                Containerd.CtrResult r = ctr(ctrRun(config, Path.of("/var/run/netns", ns), "--rm", "--rootfs",
                        rootfs().toString(), id, "/bin/sh", "-c", script));
                System.out.println((clone ? "cloned" : "booted") + " ctr run with two interfaces: "
                        + (System.nanoTime() - t0) / 1_000_000 + " ms, exit " + r.exitCode() + ":\n" + r.stdout() + r.stderr());
                assertEquals(0, r.exitCode(), r.stderr());
                String out = r.stdout();
                assertTrue(out.matches("(?s).*eth0\\s+inet " + a[1] + "/30.*"),
                        "eth0 has its pod address: " + out);
                assertTrue(out.matches("(?s).*eth1\\s+inet " + b[1] + "/30.*"), "eth1 has its pod address: " + out);
                assertTrue(out.contains(macs.strip()), "the guest's NICs have the pod's MACs " + macs + ": " + out);
                assertTrue(out.contains("PING-A-OK") && out.contains("PING-B-OK"), "both host ends answer: " + out);
                String log = containerd.logTail(4000);
                assertEquals(clone, log.contains("sandbox " + id + ": cloning template"), "cloned: " + clone);
                assertFalse(clone && log.contains("sandbox " + id + " boots normally"), "the clone's restore held");
                assertNetnsClean(id, ns, List.of("lo", "eth0", "eth1"));
            }
            try (var files = Files.list(templates)) {
                // The key counts NICs: a template of another count would be another folder (or a failed restore).
                List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> !n.endsWith(".lock")).toList();
                assertEquals(1, names.size(), "one template: " + names);
            }
        } finally {
            run(List.of("ip", "netns", "del", ns));
            run(List.of("ip", "link", "del", hostA));
            run(List.of("ip", "link", "del", hostB));
            FileTrees.delete(templates);
        }
    }
}

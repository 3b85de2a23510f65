package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.e2e.support.CniBridge;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.OciImages;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.proto.cri.ContainerState;
import io.nemu.proto.cri.ContainerStats;
import io.nemu.proto.cri.ContainerStatus;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.proto.cri.PodSandboxState;
import io.nemu.proto.cri.PodSandboxStatusResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The CRI pod suite, the same checks for every runtime handler (subclasses pick it): one pod with two
 * containers, A serving a page with busybox httpd and mounting a hostPath volume read-write and
 * read-only, B sleeping. One pod per class keeps VM boots few. The last test stops and removes the pod
 * and looks for anything left behind.
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class PodCriTest {
    static final int PORT = 8080;
    static final Duration EXEC = Duration.ofSeconds(60);
    static final String HOST_FILE = "hello.txt";
    static final String HOST_TEXT = "from the host\n";
    private static final ObjectMapper JSON = new ObjectMapper();
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();

    Path work;
    CriEnv env;
    CriClient cri;
    PodSandboxConfig podConfig;
    Path volume;
    String podId;
    String webId;
    String clientId;
    String podIp;
    String netnsPath;
    final List<String> tapsSeen = new ArrayList<>();

    /** The CRI runtime handler under test. */
    abstract String handler();

    /** Whether the pod runs in its own kernel (a VM). */
    abstract boolean ownKernel();

    /** Bridge name and subnet of this class's pod network. */
    abstract String bridge();

    abstract String subnet();

    /**
     * Whether the runtime promises the whole output in the log once the exit is known, also on a loaded machine.
     * runc's shim does not: on delete it waits at most 2 s for its copy, then closes the fifos (containerd
     * {@code pkg/process/init.go}); CI once saw 7,595 of 10,000 lines under runc.
     */
    boolean promisesWholeOutputAtExit() {
        return true;
    }

    /** Called before anything starts (e.g. assumptions on what must be built). */
    void precondition() {
    }

    /** Called once containerd runs, before the pod starts (e.g. to add to the runtime's configuration). */
    void configure() throws IOException {
    }

    /** The pod's config as the test sends it; a subclass may add to it (e.g. play the kubelet's pod cgroup). */
    PodSandboxConfig podConfig(PodSandboxConfig base) throws IOException {
        return base;
    }

    /** Called once containerd and the pod are gone (e.g. to remove what {@link #podConfig} made). */
    void afterPodGone() throws IOException {
    }

    @BeforeAll
    void startPod() throws Exception {
        precondition();
        work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-cri-" + handler() + "-")));
        env = CriEnv.start(work, bridge(), subnet());
        LEFTOVERS.containerd(env.containerd);
        cri = env.cri;
        configure();
        volume = Files.createDirectories(work.resolve("volume"));
        Files.writeString(volume.resolve(HOST_FILE), HOST_TEXT);
        podConfig = podConfig(env.podConfig("pod-" + handler()));
        long t0 = System.nanoTime();
        podId = cri.runPodSandbox(podConfig, handler());
        System.out.printf("[%s] RunPodSandbox %s: %d ms%n", handler(), podId, (System.nanoTime() - t0) / 1_000_000);
        webId = cri.createContainer(podId, CriEnv.container("web",
                        "echo web starting; exec httpd -f -p " + PORT + " -h /www")
                .addMounts(CriEnv.hostPath(volume, "/data", false))
                .addMounts(CriEnv.hostPath(volume, "/ro", true))
                .build(), podConfig);
        cri.startContainer(webId);
        clientId = cri.createContainer(podId, CriEnv.container("client", "echo client up; exec sleep 100000").build(),
                podConfig);
        cri.startContainer(clientId);
        System.out.printf("[%s] pod up with 2 containers: %d ms%n", handler(), (System.nanoTime() - t0) / 1_000_000);
        PodSandboxStatusResponse status = cri.podSandboxStatus(podId, true);
        podIp = status.getStatus().getNetwork().getIp();
        netnsPath = netnsOf(status);
        registerPod(LEFTOVERS);
    }

    @AfterAll
    void tearDown() throws IOException {
        try {
            if (env != null) {
                env.close();
            }
        } finally {
            // Only if containerd could not remove the pod: its netns would stay mounted.
            if (netnsPath != null && Files.exists(Path.of(netnsPath))) {
                CniBridge.output(Duration.ofSeconds(10), "ip", "netns", "delete", Path.of(netnsPath).getFileName().toString());
            }
            try {
                afterPodGone();
            } finally {
                FileTrees.delete(work);
            }
        }
    }

    /** The pod's network namespace path, from the verbose status' runtime spec. */
    static String netnsOf(PodSandboxStatusResponse status) throws IOException {
        String info = status.getInfoMap().get("info");
        if (info == null) {
            return null;
        }
        JsonNode namespaces = JSON.readTree(info).path("runtimeSpec").path("linux").path("namespaces");
        for (JsonNode ns : namespaces) {
            if (ns.path("type").asText().equals("network")) {
                return ns.path("path").asText(null);
            }
        }
        return null;
    }

    CriClient.ExecResult exec(String container, String... cmd) {
        return cri.execSync(container, EXEC, cmd);
    }

    @Test
    @Order(1)
    void podAndContainersReportRunning() {
        assertEquals(PodSandboxState.SANDBOX_READY, cri.podSandboxStatus(podId, false).getStatus().getState());
        var listed = cri.listContainers(podId);
        assertEquals(2, listed.size(), listed.toString());
        for (var c : listed) {
            assertEquals(ContainerState.CONTAINER_RUNNING, c.getState(), c.toString());
            assertEquals(podId, c.getPodSandboxId());
        }
        ContainerStatus web = cri.containerStatus(webId);
        assertEquals(ContainerState.CONTAINER_RUNNING, web.getState());
        assertEquals("web", web.getMetadata().getName());
        assertTrue(web.getStartedAt() > 0, "started_at: " + web.getStartedAt());
        assertEquals(2, web.getMountsCount(), web.getMountsList().toString());
        assertTrue(web.getLogPath().endsWith("web.log"), web.getLogPath());
    }

    @Test
    @Order(2)
    void containersShareOneKernel() throws IOException {
        String a = exec(webId, "cat", "/proc/sys/kernel/random/boot_id").requireOk("cat boot_id in web").stdout().strip();
        String b = exec(clientId, "cat", "/proc/sys/kernel/random/boot_id").requireOk("cat boot_id in client").stdout().strip();
        String host = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        System.out.printf("[%s] boot_id web %s, client %s, host %s%n", handler(), a, b, host);
        assertEquals(a, b, "both containers of the pod must see one kernel");
        if (ownKernel()) {
            assertNotEquals(host, a, "the pod must run in its own kernel");
        } else {
            assertEquals(host, a, "runc shares the host's kernel");
        }
    }

    @Test
    @Order(3)
    void containerReachesItsNeighbourOnLoopback() {
        String url = "http://127.0.0.1:" + PORT + "/index.html";
        CriClient.ExecResult r = null;
        for (int i = 0; i < 20; i++) {
            // busybox 1.35 (Debian) wget crashes with -T: bounded by timeout(1) instead.
            r = exec(clientId, "timeout", "10", "wget", "-q", "-O", "-", url);
            if (r.exitCode() == 0) {
                break;
            }
            CriEnv.sleep(500);
        }
        assertEquals(0, r.exitCode(), "wget " + url + " from client: " + r);
        assertEquals(OciImages.INDEX_HTML, r.stdout());
    }

    @Test
    @Order(4)
    void podIpAnswersFromTheHost() throws Exception {
        assertFalse(podIp.isEmpty(), "the pod has no IP (no CNI result)");
        assertTrue(env.network.inSubnet(podIp), "pod IP " + podIp + " is not in the test's subnet " + env.network.subnet());
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
        HttpRequest get = HttpRequest.newBuilder(URI.create("http://" + podIp + ":" + PORT + "/index.html"))
                .timeout(Duration.ofSeconds(5)).build();
        Exception last = null;
        for (int i = 0; i < 10; i++) {
            try {
                HttpResponse<String> r = http.send(get, HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                assertEquals(OciImages.INDEX_HTML, r.body());
                return;
            } catch (IOException e) {
                last = e;
                CriEnv.sleep(1000);
            }
        }
        fail("GET http://" + podIp + ":" + PORT + "/ from the host failed 10 times", last);
    }

    @Test
    @Order(5)
    void execSyncReturnsOutputAndExitCode() {
        CriClient.ExecResult r = exec(clientId, "sh", "-c", "echo out; echo err >&2; exit 7");
        assertEquals(7, r.exitCode(), r.toString());
        assertEquals("out\n", r.stdout());
        assertEquals("err\n", r.stderr());
    }

    @Test
    @Order(6)
    void containerOutputIsInItsCriLog() throws IOException {
        Path log = Path.of(podConfig.getLogDirectory(), "web.log");
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        String text = "";
        while (System.nanoTime() < deadline) {
            text = Files.exists(log) ? Files.readString(log) : "";
            if (text.contains("web starting")) {
                break;
            }
            CriEnv.sleep(200);
        }
        // CRI log format: <RFC3339 time> stdout|stderr F|P <text>
        assertTrue(text.lines().anyMatch(l -> l.matches("\\S+ stdout F web starting")), log + ": " + text);
    }

    @Test
    @Order(7)
    void hostPathVolumeIsSharedAndReadOnlyMountRefusesWrites() throws IOException {
        assertEquals(HOST_TEXT, exec(webId, "cat", "/data/" + HOST_FILE).requireOk("cat /data/" + HOST_FILE).stdout());
        assertEquals(HOST_TEXT, exec(webId, "cat", "/ro/" + HOST_FILE).requireOk("cat /ro/" + HOST_FILE).stdout());
        exec(webId, "sh", "-c", "echo from the pod > /data/written.txt").requireOk("write to /data");
        assertEquals("from the pod\n", Files.readString(volume.resolve("written.txt")), "the host sees the pod's write");
        CriClient.ExecResult ro = exec(webId, "sh", "-c", "echo nope > /ro/refused.txt");
        assertNotEquals(0, ro.exitCode(), "write to the read-only mount succeeded: " + ro);
        assertTrue(ro.stderr().contains("Read-only file system"), "stderr: " + ro.stderr());
        assertFalse(Files.exists(volume.resolve("refused.txt")));
    }

    @Test
    @Order(8)
    void containerStatsAreSane() {
        ContainerStats s = cri.containerStats(webId);
        assertEquals(webId, s.getAttributes().getId());
        assertTrue(s.getMemory().getWorkingSetBytes().getValue() > 0, "memory: " + s.getMemory());
        assertTrue(s.getCpu().getUsageCoreNanoSeconds().getValue() > 0, "cpu: " + s.getCpu());
        System.out.printf("[%s] web stats: working set %d bytes, cpu %d ns%n", handler(),
                s.getMemory().getWorkingSetBytes().getValue(), s.getCpu().getUsageCoreNanoSeconds().getValue());
    }

    @Test
    @Order(9)
    void networkNamespaceHoldsWhatTheRuntimeNeeds() throws IOException {
        assertNotNull(netnsPath, "no network namespace in the pod's runtime spec");
        assertTrue(Files.exists(Path.of(netnsPath)), netnsPath);
        if (ownKernel()) {
            String ns = Path.of(netnsPath).getFileName().toString();
            String links = CniBridge.output(Duration.ofSeconds(10), "ip", "-n", ns, "-d", "-o", "link", "show");
            for (String line : links.lines().toList()) {
                if (line.contains(" tun ") && line.contains("type tap")) {
                    tapsSeen.add(LEFTOVERS.link(line.split(": ")[1].split("[@:]")[0]));
                }
            }
            assertFalse(tapsSeen.isEmpty(), "no tap in the pod's netns " + ns + ":\n" + links);
            String filters = CniBridge.output(Duration.ofSeconds(10), "tc", "-n", ns, "filter", "show", "dev", "eth0",
                    "ingress");
            assertFalse(filters.isBlank(), "no tc filter on eth0 in " + ns);
        }
    }

    @Test
    @Order(10)
    void bothContainersRunInOneSandboxProcessSet() throws IOException {
        if (!ownKernel()) {
            // runc: one shim for the pod (containerd groups by sandbox id), no VM.
            assertEquals(1, env.containerd.shimProcesses().size(), "shims: " + env.containerd.shimProcesses());
            return;
        }
        var procs = Sandboxes.hostProcesses(podId);
        long qemus = procs.keySet().stream().filter(k -> k.startsWith("qemu")).count();
        System.out.printf("[%s] sandbox processes: %s%n", handler(), procs);
        assertEquals(1, qemus, "one VM per pod: " + procs);
        assertEquals(1, env.containerd.shimProcesses().size(), "one shim per pod: " + env.containerd.shimProcesses());
    }

    @Test
    @Order(11)
    void failedCallsNameTheCallAndTheContainer() {
        CriClient.CriException e = org.junit.jupiter.api.Assertions.assertThrows(CriClient.CriException.class,
                () -> cri.containerStatus("no-such-container"));
        assertTrue(e.getMessage().startsWith("ContainerStatus of no-such-container failed: NOT_FOUND"), e.getMessage());
    }

    @Test
    @Order(12)
    void aContainerThatPrintsTenThousandLinesAndExitsAtOnceHasThemAllInItsCriLog() throws IOException {
        // containerd's contract: every byte written before the exit is in the log once the exit is known.
        String id = cri.createContainer(podId, CriEnv.container("lines", "seq 1 10000").build(), podConfig);
        long t0 = System.nanoTime();
        cri.startContainer(id);
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        ContainerStatus st = cri.containerStatus(id);
        while (st.getState() != ContainerState.CONTAINER_EXITED && System.nanoTime() < deadline) {
            CriEnv.sleep(100);
            st = cri.containerStatus(id);
        }
        assertEquals(ContainerState.CONTAINER_EXITED, st.getState(), st.toString());
        assertEquals(0, st.getExitCode(), st.toString());
        // containerd's CRI logger writes the file behind the fifo, so the last lines may land a moment after the
        // exit is known: wait until the log stops growing. A lost line never arrives.
        Path log = Path.of(podConfig.getLogDirectory(), "lines.log");
        long exitMs = (System.nanoTime() - t0) / 1_000_000;
        int atExit = logLines(log).size();
        List<String> lines = settledLines(log, 10000);
        cri.removeContainer(id);
        System.out.printf("[%s] seq 1 10000 then exit: exit seen after %d ms, %d lines in the CRI log then, %d once"
                + " it stopped growing%n", handler(), exitMs, atExit, lines.size());
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(Integer.toString(i + 1), lines.get(i), "line " + (i + 1) + " of " + log);
        }
        if (!promisesWholeOutputAtExit()) {
            Assumptions.assumeTrue(lines.size() == 10000, "[" + handler() + "] kept " + lines.size()
                    + " of 10000 lines: its shim stops copying 2 s after the exit");
        }
        assertEquals(10000, lines.size(), "lines in " + log);
    }

    private static List<String> logLines(Path log) throws IOException {
        return Files.readAllLines(log).stream().map(l -> l.replaceFirst("^\\S+ stdout F ", "")).toList();
    }

    /** The log's lines once it holds {@code want} lines or has not grown for 2 s (at most 20 s). */
    private static List<String> settledLines(Path log, int want) throws IOException {
        long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        List<String> lines = logLines(log);
        long grew = System.nanoTime();
        while (lines.size() < want && System.nanoTime() - grew < Duration.ofSeconds(2).toNanos()
                && System.nanoTime() < end) {
            CriEnv.sleep(100);
            List<String> now = logLines(log);
            if (now.size() != lines.size()) {
                grew = System.nanoTime();
            }
            lines = now;
        }
        return lines;
    }

    @Test
    @Order(100)
    void stopAndRemoveLeaveNothing() throws Exception {
        cri.stopPodSandbox(podId);
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, cri.podSandboxStatus(podId, false).getStatus().getState());
        for (String c : List.of(webId, clientId)) {
            assertEquals(ContainerState.CONTAINER_EXITED, cri.containerStatus(c).getState(), c);
        }
        cri.removePodSandbox(podId);
        assertTrue(cri.listPodSandboxes().stream().noneMatch(p -> p.getId().equals(podId)), "pod still listed");
        assertEquals(List.of(), cri.listContainers(podId));

        // Processes exit a moment after the calls return.
        Leftovers pod = Leftovers.ofSandboxes();
        registerPod(pod);
        tapsSeen.forEach(pod::link);
        pod.assertNone();
    }

    /**
     * Everything of the pod that must be gone once it is removed: what names the sandbox (processes, mounts,
     * the shim's folders), the shim's socket, the network namespace; the taps lived in that namespace and
     * none may have moved to the host's (registered when seen).
     */
    void registerPod(Leftovers l) {
        l.sandbox(podId);
        l.gone(io.nemu.shim.cli.ShimSocket.daemonPath(env.containerd.grpcAddress(), "k8s.io"));
        if (netnsPath != null) {
            l.gone(Path.of(netnsPath));
        }
    }
}

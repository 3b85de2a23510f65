package io.nemu.e2e.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.CriClient;
import io.nemu.e2e.support.CriEnv;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.Leftovers;
import io.nemu.proto.cri.LinuxContainerConfig;
import io.nemu.proto.cri.LinuxContainerSecurityContext;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A guest root that reaches the raw share of a sandbox (the whole sandbox folder, every container's root and
 * volumes) must reach nothing of the host outside that folder. One pod, one attacker container; a busybox script
 * of attacks: {@code ..} paths, absolute and relative symlinks pointing up, {@code /proc/self/root}, symlinks the
 * host planted in a hostPath volume ({@code /} and {@code ../../..}), and writes through all of them. Two host
 * markers hold a unique token: one under /tmp, one beside the shared folder (one {@code ..} above the share's root
 * on the host). The script prints a line per attempt; no line may carry an outside token, and afterwards the host
 * holds nothing new outside the share. The same helpers read and write a marker inside the share, so the script is
 * shown able to report a hit (the positive controls). A folder the guest is in, swapped for a link out while it is
 * there, must keep receiving its writes (a server that re-resolves paths would follow the link). Teardown must follow
 * no link the guest planted.
 *
 * <p>Subclasses say how the share is served and how the attacker reaches it: its path in the attacker's view
 * ({@link #share()}), the attacker container's volume ({@link #vol()}), what runs first ({@link #prelude()}) and
 * how the script is run ({@link #command(String)}).
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class ShareEscapeTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();
    private static final Duration EXEC = Duration.ofSeconds(120);
    /** Enough {@code ..} to climb from the share's root on the host (/run/nemu/shared/sandboxes/ID/shared) to /. */
    static final String UP = "../../../../../../../..";
    /** An attempt in the script: {@code r NAME PATH}, {@code w NAME PATH} or {@code x NAME COMMAND}. */
    private static final Pattern ATTEMPT = Pattern.compile("(?:^|; )[rwx] (\\S+) ", Pattern.MULTILINE);
    /** The volume's files after the attacks: the host's, and the one control write through the raw share. */
    private static final List<String> VOLUME_FILES = List.of("ctl-rw", "inside", "marker-abs", "root", "up");

    final String token = UUID.randomUUID().toString();
    private final String outsideToken = "outside-" + token;
    private final String besideToken = "beside-" + token;
    private final String insideToken = "inside-" + token;
    private final String volumeToken = "volume-" + token;

    Path work;
    CriEnv env;
    CriClient cri;
    PodSandboxConfig pod;
    String podId;
    String attackerId;
    /** Host markers outside the share: /tmp/nemu-escape-X/marker and SHAREDBASE/beside-X. */
    Path outsideDir;
    Path outsideMarker;
    Path besideMarker;
    Path volume;
    Path roVolume;
    List<String> baseBefore;
    /** The script's whole output, and its attempts by name ({@code ok ...} or {@code no}). */
    String output;
    Map<String, String> attempts;

    abstract String bridge();

    abstract String subnet();

    /** Changes the environment's configuration before the pod starts. */
    void configure() throws IOException {
    }

    /** The pod's configuration, from {@link CriEnv#podConfig}. */
    PodSandboxConfig pod(PodSandboxConfig base) {
        return base;
    }

    /** The attacker container's privileges. */
    abstract LinuxContainerSecurityContext attacker();

    /** The raw share in the attacker's view. */
    abstract String share();

    /** The attacker container's hostPath volume (its bind of {@link #volume}) in the attacker's view. */
    String vol() {
        return "/vol";
    }

    /** Script lines before the attacks: reach the share, print what the subclass checks. */
    abstract List<String> prelude();

    /** Attempts of the subclass's own after the shared ones (names must not start with {@code control-}). */
    List<String> moreAttacks() {
        return List.of();
    }

    /** The exec that runs {@code script} in the attacker container. */
    abstract List<String> command(String script);

    /** Deletes what {@link #configure()} made outside {@link #work}, after the pod is gone. */
    void afterPodGone() throws IOException {
    }

    @BeforeAll
    void startPod() throws IOException {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image built (scripts/nemu image build)");
        work = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory("nemu-escape-work-")));
        outsideDir = LEFTOVERS.gone(Files.createTempDirectory("nemu-escape-"));
        outsideMarker = Files.writeString(outsideDir.resolve("marker"), outsideToken + "\n");
        volume = Files.createDirectories(work.resolve("volume"));
        Files.writeString(volume.resolve("inside"), volumeToken + "\n");
        // What a hostile image or a careless host could leave in a volume: links to the root and above it.
        Files.createSymbolicLink(volume.resolve("root"), Path.of("/"));
        Files.createSymbolicLink(volume.resolve("up"), Path.of(UP));
        Files.createSymbolicLink(volume.resolve("marker-abs"), outsideMarker);
        roVolume = Files.createDirectories(work.resolve("rovol"));

        env = CriEnv.start(work, bridge(), subnet());
        LEFTOVERS.containerd(env.containerd);
        cri = env.cri;
        configure();
        pod = pod(env.podConfig("escape"));
        podId = LEFTOVERS.sandbox(cri.runPodSandbox(pod, CriEnv.NEMU));
        SandboxPaths paths = SandboxPaths.of(podId);
        besideMarker = Files.writeString(paths.sharedBase().resolve("beside-" + token), besideToken + "\n");
        Files.writeString(paths.shared().resolve("inside-" + token), insideToken + "\n");
        attackerId = cri.createContainer(podId, CriEnv.container("attacker", "exec sleep 100000")
                .addMounts(CriEnv.hostPath(volume, "/vol", false))
                .addMounts(CriEnv.hostPath(roVolume, "/rovol", true))
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(attacker()))
                .build(), pod);
        cri.startContainer(attackerId);
    }

    @AfterAll
    void tearDown() throws IOException {
        try {
            CriEnv.closeAndDelete(env, work);
        } finally {
            try {
                afterPodGone();
            } finally {
                if (outsideDir != null) {
                    FileTrees.delete(outsideDir);
                }
            }
        }
    }

    /**
     * The attacks, one line each: {@code R name ok <text>} or {@code R name no} for a read, {@code W name ok} or
     * {@code W name no} for a write, {@code X name ok} or {@code X name no} for a command.
     */
    private String script() {
        String s = share();
        String v = vol();
        String outsideRel = UP + outsideMarker;
        String outsideDirRel = UP + outsideDir;
        String beside = "beside-" + token;
        List<String> lines = new ArrayList<>(List.of(
                "r() { if v=$(cat \"$2\" 2>/dev/null) && [ -n \"$v\" ]; then echo \"R $1 ok $v\"; else echo \"R $1 no\"; fi; }",
                "w() { if ( echo \"pwned by $1\" > \"$2\" ) 2>/dev/null; then echo \"W $1 ok\"; else echo \"W $1 no\"; fi; }",
                "x() { n=$1; shift; if e=$(\"$@\" 2>&1); then echo \"X $n ok\"; else echo \"X $n no\" $e; fi; }"));
        lines.addAll(prelude());
        lines.addAll(List.of(
                "rv=$(ls -d " + s + "/*/mounts/*-volume | head -n 1); cid=${rv#" + s + "/}; cid=${cid%%/*}",
                "echo \"CID $cid\"",
                "echo \"LS $(ls " + s + " | tr '\\n' ' ')\"",
                // positive controls: the same helpers do report what the share holds
                "r control-share " + s + "/inside-" + token,
                "r control-dotdot " + s + "/$cid/../inside-" + token,
                "ln -s " + s + "/inside-" + token + " " + s + "/ctl-abs; r control-abs-link " + s + "/ctl-abs",
                "ln -s ../inside-" + token + " " + s + "/$cid/ctl-rel; r control-rel-link " + s + "/$cid/ctl-rel",
                "r control-volume " + v + "/inside",
                "r control-raw-volume $rv/inside",
                "w control-write " + s + "/ctl-written",
                "w control-raw-rw $rv/ctl-rw",
                // .. from the share's root and below it
                "r dotdot-root " + s + "/" + outsideRel,
                "r dotdot-beside " + s + "/../" + beside,
                "r dotdot-deep " + s + "/$cid/rootfs/" + UP + "/" + outsideRel,
                "r dotdot-cd \"$(cd " + s + "/.. && pwd)/" + beside + "\"",
                // absolute and relative symlinks made by the guest in the share
                "ln -s " + outsideMarker + " " + s + "/abs-link; r abs-link " + s + "/abs-link",
                "ln -s " + outsideDir + " " + s + "/abs-dir; r abs-dir " + s + "/abs-dir/marker",
                "ln -s " + outsideRel + " " + s + "/rel-link; r rel-link " + s + "/rel-link",
                "ln -s ../" + beside + " " + s + "/rel-beside; r rel-beside " + s + "/rel-beside",
                "ln -s " + UP + " " + s + "/$cid/up-dir; r rel-dir " + s + "/$cid/up-dir" + outsideMarker,
                // /proc tricks
                "r proc-self-root /proc/self/root" + outsideMarker,
                "ln -s /proc/self/root" + outsideMarker + " " + s + "/proc-link; r proc-link " + s + "/proc-link",
                "r proc-1-root /proc/1/root" + outsideMarker,
                "r proc-cwd \"$(cd " + s + " && readlink -f /proc/self/cwd)/../" + beside + "\"",
                // the host's own symlinks in the hostPath volume, through the container's bind and the raw share
                "r vol-root " + v + "/root" + outsideMarker,
                "r vol-up " + v + "/up" + outsideMarker,
                "r vol-abs " + v + "/marker-abs",
                "r raw-vol-root $rv/root" + outsideMarker,
                "r raw-vol-up $rv/up" + outsideMarker,
                "r raw-vol-abs $rv/marker-abs",
                // writes: a new file beside a marker, the marker itself, and the read-only volume through the raw share
                // (write-beside lands in the guest's own tree: the share's parent is the guest's)
                "w write-dotdot " + s + "/" + outsideDirRel + "/pwned-dotdot",
                "w write-abs-dir " + s + "/abs-dir/pwned-abs",
                "w write-rel-dir " + s + "/$cid/up-dir" + outsideDir + "/pwned-rel",
                "w write-marker " + s + "/abs-link",
                "w write-rel-marker " + s + "/rel-link",
                "w write-beside " + s + "/../" + beside,
                "w write-vol-root " + v + "/root" + outsideDir + "/pwned-vol",
                "w write-vol-up " + v + "/up" + outsideDir + "/pwned-volup",
                "w write-vol-abs " + v + "/marker-abs",
                "w write-raw-ro \"$(ls -d " + s + "/$cid/mounts/*-rovol | head -n 1)/pwned-ro\"",
                // a folder the guest holds (its cwd) swapped for a link out: the write must land in the moved folder
                "mkdir " + s + "/race; ( cd " + s + "/race && : > in && sleep 3; w race-swapped-dir pwned-race ) &",
                "until [ -e " + s + "/race/in ]; do sleep 1; done; mv " + s + "/race " + s + "/race2; ln -s " + outsideDir
                        + " " + s + "/race; wait"));
        lines.addAll(moreAttacks());
        lines.add("echo END");
        return String.join("\n", lines);
    }

    @Test
    @Order(1)
    void theGuestReachesNothingOutsideTheShare() throws IOException {
        baseBefore = names(besideMarker.getParent());
        String script = script();
        CriClient.ExecResult r = cri.execSync(attackerId, EXEC, command(script).toArray(String[]::new));
        System.out.println("[escape] script exit " + r.exitCode() + "\n" + r.stdout() + (r.stderr().isBlank() ? ""
                : "stderr:\n" + r.stderr()));
        assertTrue(r.stdout().contains("END"), "the attack script did not run to its end: " + r);
        output = r.stdout();
        Map<String, String> found = new LinkedHashMap<>();
        for (String line : r.stdout().lines().toList()) {
            String[] f = line.split(" ", 4);
            if ((f[0].equals("R") || f[0].equals("W") || f[0].equals("X")) && f.length >= 3) {
                found.put(f[1], f[2] + (f.length > 3 ? " " + f[3] : ""));
            }
        }
        // Controls: the script can read and write what the share holds, through the same paths it attacks with.
        Map<String, String> controls = Map.of("control-share", insideToken, "control-dotdot", insideToken,
                "control-abs-link", insideToken, "control-rel-link", insideToken, "control-volume", volumeToken,
                "control-raw-volume", volumeToken);
        controls.forEach((name, expected) -> assertEquals("ok " + expected, found.get(name), name));
        assertEquals("ok", found.get("control-write"), "control-write");
        assertEquals("ok", found.get("control-raw-rw"), "control-raw-rw");
        assertEquals("pwned by control-raw-rw\n", Files.readString(volume.resolve("ctl-rw")), "the raw share writes the rw volume");
        Path shared = SandboxPaths.of(podId).shared();
        assertEquals("pwned by control-write\n", Files.readString(shared.resolve("ctl-written")), "the guest's write reached the share");

        List<String> escaped = new ArrayList<>();
        found.forEach((name, result) -> {
            if (result.contains(outsideToken) || result.contains(besideToken)) {
                escaped.add(name + " read " + result);
            }
            if (name.startsWith("write-") && result.equals("ok")) {
                // It landed in the guest's own tree, or on the host: the host check below tells.
                System.out.println("[escape] " + name + " succeeded somewhere (the host is checked below)");
            }
        });
        assertEquals(List.of(), escaped, "attempts that reached a host marker outside the share");
        List<String> planned = ATTEMPT.matcher(script).results().map(m -> m.group(1)).toList();
        assertEquals(planned, List.copyOf(found.keySet()), "every attempt reports one line");
        attempts = found;
        long attacks = planned.stream().filter(n -> !n.startsWith("control-")).count();
        assertHostUntouched();
        assertEquals("ok", found.get("race-swapped-dir"), "race-swapped-dir");
        assertEquals("pwned by race-swapped-dir\n", Files.readString(shared.resolve("race2/pwned-race")),
                "the write from the swapped folder landed in the folder, moved");
        System.out.printf("[escape] %d attacks, none reached the host; %d controls ok%n", attacks, controls.size() + 2);
    }

    /** The markers hold their tokens, nothing new appeared beside them, the volume got no files through the ro bind. */
    private void assertHostUntouched() throws IOException {
        assertEquals(outsideToken + "\n", Files.readString(outsideMarker));
        assertEquals(List.of("marker"), names(outsideDir), "files beside the /tmp marker");
        assertEquals(besideToken + "\n", Files.readString(besideMarker));
        assertEquals(baseBefore, names(besideMarker.getParent()), "files beside the share (the sandbox's shared base)");
        assertEquals(VOLUME_FILES, names(volume), "the volume's files");
        assertEquals(List.of(), names(roVolume), "the read-only volume, written from the raw share");
        for (String p : List.of("/pwned-vol", "/pwned-volup", "/tmp/pwned-vol", "/pwned-dotdot")) {
            assertFalse(Files.exists(Path.of(p)), "a write reached the host's " + p);
        }
    }

    static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    @Order(9)
    void teardownFollowsNoLinkTheGuestPlanted() throws Exception {
        assumeTrue(attempts != null, "the attack did not run");
        // The guest's links (abs-dir -> the /tmp marker's folder, rel-link, up-dir) are still in the share.
        Path shared = SandboxPaths.of(podId).shared();
        assertTrue(Files.isSymbolicLink(shared.resolve("abs-dir")), "the guest's link is in the share on the host");
        Files.delete(besideMarker);
        cri.stopPodSandbox(podId);
        cri.removePodSandbox(podId);
        Leftovers.ofSandboxes(podId).assertNone();
        assertEquals(outsideToken + "\n", Files.readString(outsideMarker), "the /tmp marker after teardown");
        assertEquals(List.of("marker"), names(outsideDir), "the /tmp marker's folder after teardown");
        assertEquals(VOLUME_FILES, names(volume), "the volume after teardown");
        assertEquals(volumeToken + "\n", Files.readString(volume.resolve("inside")));
    }
}

package io.nemu.e2e.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.FileTrees;
import io.nemu.proto.cri.LinuxContainerSecurityContext;
import io.nemu.proto.cri.NamespaceMode;
import io.nemu.proto.cri.NamespaceOption;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@link ShareEscapeTest} against a cloned pod's share ({@code [factory] enable_template = true}): a clone cannot
 * use vhost-user devices, so QEMU itself serves the folder over virtio-9p ({@code -fsdev local},
 * {@code security_model=none}, QEMU running as root), with no namespace or pivot_root of its own: only its path
 * walk keeps the guest inside. The guest kernel's 9p virtio transport allows one mount per channel, so a container
 * cannot mount the tag again (EBUSY, checked); the attacker is the guest's own root instead: a privileged container
 * in the guest's pid namespace (pod and container pid NODE) enters the guest init's mount namespace ({@code nsenter
 * -t 1 -m}) and attacks the share where the agent mounted it, {@link GuestContract#SHARED_DIR}. Besides the shared
 * attacks: {@code chown -h} of links pointing out (the server must change the link, not what it points to, on the
 * host), device nodes (refused by QEMU: none may appear on the host), a setuid-root file and a chmod of the share's
 * root (QEMU, as root, does both on the host: they must stay below an owner-only folder the guest cannot reach).
 * Not covered: the guest kernel resolves {@code ..} and links itself, so no {@code ..} walk at the export root
 * reaches QEMU from the guest's user space (only a hostile guest kernel could send one); extended attributes, which
 * {@code security_model=none} passes through, have no busybox tool to set them.
 */
class NinePEscapeTest extends ShareEscapeTest {
    private static final int CHOWN_ID = 4242;
    /** On a tmpfs, as in production. */
    private final Path templates = Path.of("/dev/shm/nemu-e2e-escape-templates-" + ProcessHandle.current().pid());
    private final NamespaceOption nodePid = NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD)
            .setPid(NamespaceMode.NODE).setIpc(NamespaceMode.POD).build();

    @Override
    String bridge() {
        return "nemu-9p0";
    }

    @Override
    String subnet() {
        return "10.217.83.0/24";
    }

    @Override
    void configure() throws IOException {
        env.enableTemplating(templates);
    }

    @Override
    void afterPodGone() throws IOException {
        FileTrees.delete(templates);
    }

    @Override
    PodSandboxConfig pod(PodSandboxConfig base) {
        PodSandboxConfig.Builder b = base.toBuilder();
        b.getLinuxBuilder().getSecurityContextBuilder().setNamespaceOptions(nodePid).setPrivileged(true);
        return b.build();
    }

    @Override
    LinuxContainerSecurityContext attacker() {
        return LinuxContainerSecurityContext.newBuilder().setPrivileged(true).setNamespaceOptions(nodePid).build();
    }

    @Override
    String share() {
        return GuestContract.SHARED_DIR;
    }

    /** The container's own root, seen from the guest's through a process the outer shell left in it ($K). */
    @Override
    String vol() {
        return "/proc/$K/root/vol";
    }

    @Override
    List<String> prelude() {
        String s = share();
        return List.of(
                "K=$1",
                "echo \"NS $(readlink /proc/self/ns/mnt) $(readlink /proc/1/ns/mnt)\"",
                "echo \"MOUNTS $(grep ' " + s + " ' /proc/mounts)\"",
                // A second mount of the tag: the transport's one channel is taken by the agent's mount.
                "mkdir " + s + "/again && echo \"MOUNT2 $(mount -t 9p -o trans=virtio,version=9p2000.L "
                        + GuestContract.SHARED_FS_TAG + " " + s + "/again 2>&1; echo rc=$?)\"; umount "
                        + s + "/again 2>/dev/null; rmdir " + s + "/again");
    }

    @Override
    List<String> moreAttacks() {
        String s = share();
        return List.of(
                // the server must change the links themselves (made above), not their targets: the test's own markers
                "x lchown-abs-link chown -h " + CHOWN_ID + ":" + CHOWN_ID + " " + s + "/abs-link",
                "x lchown-abs-dir chown -h " + CHOWN_ID + ":" + CHOWN_ID + " " + s + "/abs-dir",
                "x lchown-rel-link chown -h " + CHOWN_ID + ":" + CHOWN_ID + " " + s + "/rel-link",
                // what QEMU, as root, makes on the host for the guest
                "x mknod-char mknod " + s + "/devnull c 1 3",
                "x mknod-block mknod " + s + "/blknode b 7 0",
                "x setuid-root sh -c \"cp /bin/busybox " + s + "/suid && chown 0:0 " + s + "/suid && chmod 4755 " + s + "/suid\"",
                "x chmod-share-root chmod 0777 " + s);
    }

    /** Outer shell in the container: keep a process in its root for {@link #vol()}, run the script in the guest's. */
    @Override
    List<String> command(String script) {
        return List.of("sh", "-c", "sleep 100000 & k=$!; nsenter -t 1 -m -- sh -c \"$1\" attack $k; rc=$?; kill $k; exit $rc",
                "outer", script);
    }

    @Test
    @Order(0)
    void thePodIsACloneOfTheTemplate() throws IOException {
        env.assertCloned(podId, templates);
    }

    @Test
    @Order(2)
    void theAttackerWasTheGuestsRootOnTheAgentsNinePMount() {
        assumeTrue(attempts != null, "the attack did not run");
        String ns = line("NS");
        String[] both = ns.split(" ");
        assertTrue(both.length == 2 && both[0].startsWith("mnt:") && both[0].equals(both[1]),
                "the script ran in the guest init's mount namespace: " + ns);
        String mount = line("MOUNTS");
        String[] f = mount.split(" ");
        assertTrue(f.length >= 4 && f[0].equals(GuestContract.SHARED_FS_TAG) && f[1].equals(share()) && f[2].equals("9p"),
                "the share is the tag's 9p mount: " + mount);
        assertTrue(List.of(f[3].split(",")).contains("trans=virtio"), mount);
        String again = line("MOUNT2");
        assertFalse(again.endsWith("rc=0"), "a second mount of the tag: " + again);
        assertTrue(again.contains("busy"), "a second mount of the tag fails with EBUSY: " + again);
    }

    @Test
    @Order(3)
    void whatTheServerMadeStaysTheLinksAndBelowOwnerOnlyFolders() throws IOException {
        assumeTrue(attempts != null, "the attack did not run");
        SandboxPaths paths = SandboxPaths.of(podId);
        Path shared = paths.shared();
        // Control: each chown reached the server, which changed the link on the host.
        for (String link : List.of("abs-link", "abs-dir", "rel-link")) {
            String name = "lchown-" + link;
            assertEquals("ok", attempts.get(name), name);
            assertEquals(CHOWN_ID, uid(shared.resolve(link)), "the guest's chown -h changed its link " + link + " on the host");
        }
        assertEquals(0, uid(outsideMarker), "the owner of the /tmp marker the link points to");
        assertEquals(0, uid(outsideDir), "the owner of the /tmp marker's folder a link points to");
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(outsideDir)),
                "the /tmp marker's folder's mode");
        // Device nodes: QEMU (with the fix of CVE-2023-2861, in Debian's 7.2) refuses to open a special file, so
        // the mknod fails (ENXIO) and its node is gone again; a server that kept it would let a hostile guest
        // kernel open the host's own device through it.
        for (String name : List.of("mknod-char", "mknod-block")) {
            assertTrue(attempts.get(name).startsWith("no"), name + ": " + attempts.get(name));
        }
        for (String name : List.of("devnull", "blknode")) {
            assertFalse(Files.exists(shared.resolve(name), LinkOption.NOFOLLOW_LINKS), "a device node on the host: " + name);
        }
        Path suid = shared.resolve("suid");
        System.out.printf("[escape] on the host: %s %s%n", suid, Files.exists(suid, LinkOption.NOFOLLOW_LINKS)
                ? Files.readAttributes(suid, "unix:mode,uid,gid", LinkOption.NOFOLLOW_LINKS) : "absent");
        System.out.printf("[escape] the share's root after the guest's chmod 0777: %s%n",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(shared)));
        // Whatever QEMU made for the guest (a setuid-root file, the export root's mode) only root can reach on the
        // host: the sandbox's shared base, which the guest cannot reach to change, is closed to everyone else.
        Path base = paths.sharedBase();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(base, LinkOption.NOFOLLOW_LINKS)),
                base + "'s mode");
        assertEquals(0, uid(base), base + "'s owner");
    }

    private String line(String key) {
        return output.lines().filter(l -> l.startsWith(key + " ")).findFirst()
                .map(l -> l.substring(key.length() + 1)).orElse("(no " + key + " line)");
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }
}

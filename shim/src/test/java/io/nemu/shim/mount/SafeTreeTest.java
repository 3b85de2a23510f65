package io.nemu.shim.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real bind mounts (root only): a tree that holds a bind of a "host volume" is never deleted through it,
 * whatever fails on the way.
 */
class SafeTreeTest {
    @TempDir
    Path tmp;
    Path volume;
    Path top;
    Path bind;

    @BeforeEach
    void hostVolumeBoundIntoATree() throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")), "bind mounts need root");
        volume = Files.createDirectories(tmp.resolve("host-volume"));
        Files.writeString(volume.resolve("precious.txt"), "keep me");
        top = tmp.resolve("sandbox");
        bind = Files.createDirectories(top.resolve("shared/c1/mounts/0-host-volume"));
        Files.writeString(top.resolve("shared/c1/config.json"), "{}");
        Mounts.mount(List.of("--bind", volume.toString(), bind.toString()));
    }

    @AfterEach
    void unmountWhatIsLeft() throws IOException {
        if (top != null) {
            for (String mp : MountTable.self().pointsUnder(tmp)) {
                Mounts.umount(mp, Duration.ofSeconds(10));
            }
        }
    }

    private void assertVolumeIntact() throws IOException {
        assertEquals("keep me", Files.readString(volume.resolve("precious.txt")), "the host volume's file");
    }

    @Test
    void refusesToRemoveATreeWithAMountBelow() throws IOException {
        IOException e = assertThrows(IOException.class, () -> SafeTree.host().remove(top));
        assertTrue(e.getMessage().contains(bind.toString()), e.getMessage());
        assertVolumeIntact();
        assertTrue(Files.exists(top.resolve("shared/c1/config.json")), "nothing of the tree was deleted");
    }

    @Test
    void failedUnmountLeavesTheTreeAndNamesTheMount() throws IOException {
        SafeTree busy = new SafeTree(MountTable.self(), p -> {
            throw new IOException("umount -l " + p + " failed: target is busy");
        });
        IOException e = assertThrows(IOException.class, () -> busy.unmountAndRemove(top));
        assertTrue(e.getMessage().contains("target is busy") && e.getMessage().contains(bind.toString()),
                e.getMessage());
        assertVolumeIntact();
        assertTrue(Files.isDirectory(bind), "the mount point stays");
    }

    @Test
    void unreadableMountTableLeavesTheTree() throws IOException {
        SafeTree blind = new SafeTree(new MountTable(tmp.resolve("no-such-mountinfo")), p -> { });
        IOException e = assertThrows(IOException.class, () -> blind.unmountAndRemove(top));
        assertTrue(e.getMessage().contains("no-such-mountinfo"), e.getMessage());
        assertThrows(IOException.class, () -> blind.remove(top));
        assertVolumeIntact();
        assertTrue(Files.exists(top.resolve("shared/c1/config.json")));
    }

    @Test
    void unmountThatSucceedsButLeavesTheMountIsCaught() throws IOException {
        SafeTree liar = new SafeTree(MountTable.self(), p -> { });
        IOException e = assertThrows(IOException.class, () -> liar.unmountAndRemove(top));
        assertTrue(e.getMessage().contains("still mounted"), e.getMessage());
        assertVolumeIntact();
    }

    @Test
    void unmountsThenRemovesEverything() throws IOException {
        Path file = top.resolve("shared/c1/mounts/1-hosts");
        Files.createFile(file);
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        Mounts.mount(List.of("--bind", hosts.toString(), file.toString()));
        List<String> done = SafeTree.host().unmountAndRemove(top);
        assertEquals(2, done.size(), done::toString);
        assertFalse(Files.exists(top, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertVolumeIntact();
        assertEquals("127.0.0.1 localhost\n", Files.readString(hosts));
    }

    @Test
    void aFileBindMountAlsoStopsTheDelete() throws IOException {
        Mounts.umount(bind.toString(), Duration.ofSeconds(10));
        Path file = Files.createFile(top.resolve("shared/c1/mounts/1-data"));
        Path data = Files.writeString(tmp.resolve("data"), "host file");
        Mounts.mount(List.of("--bind", data.toString(), file.toString()));
        assertThrows(IOException.class, () -> SafeTree.host().remove(top));
        assertEquals("host file", Files.readString(data));
    }

    @Test
    void linksAreRemovedNotFollowed() throws IOException {
        Mounts.umount(bind.toString(), Duration.ofSeconds(10));
        Files.createSymbolicLink(top.resolve("shared/c1/to-volume"), volume);
        SafeTree.host().remove(top);
        assertFalse(Files.exists(top, java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertVolumeIntact();
    }

    @Test
    void mountinfoEscapesAreDecoded() {
        assertEquals("/run/a b\tc\\d", MountTable.unescape("/run/a\\040b\\011c\\134d"));
        assertEquals("/x\\9", MountTable.unescape("/x\\9"));
    }
}

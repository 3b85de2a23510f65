package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestVolumesTest {

    @TempDir
    Path dir;

    @Test
    void aHostPathMapsToItsGuestPathWhileItsContainerIsThere() throws Exception {
        Path data = Files.createDirectories(dir.resolve("data"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), data);
        GuestVolumes v = new GuestVolumes();
        v.add("c1", data + "/", "/run/kata-containers/shared/containers/c1/mounts/0-data");
        v.add("c2", dir.resolve("disk.img").toString(), "/run/kata-containers/sandbox/blk/c2-1");
        GuestVolumes.Volume expected = new GuestVolumes.Volume("c1", data.toString(),
                "/run/kata-containers/shared/containers/c1/mounts/0-data");
        assertEquals(Optional.of(expected), v.find(data.toString()));
        assertEquals(Optional.of(expected), v.find(dir + "/./data"), "normalised");
        assertEquals(Optional.of(expected), v.find(link.toString()), "through its symlink");
        assertEquals("/run/kata-containers/sandbox/blk/c2-1", v.find(dir + "/disk.img").orElseThrow().guestPath(),
                "a path that does not exist (any more) still matches as given");
        assertTrue(v.find(dir.toString()).isEmpty(), "a parent is not the volume");
        v.removeContainer("c1");
        assertTrue(v.find(data.toString()).isEmpty());
        assertTrue(v.find(dir + "/disk.img").isPresent());
    }
}

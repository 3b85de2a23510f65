package io.nemu.vmm.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.NetDevice;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The throwaway taps of a template build: real namespaces and taps (needs root and iproute2). */
@Tag("system")
class TemplateNicsTest {
    @TempDir
    Path tmp;

    private static String ipIn(Path netns, String... args) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of("ip", "-n", netns.getFileName().toString()));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), argv + ": " + out);
        return out;
    }

    @Test
    void aTapPerNicInANamespaceOfItsOwnGoneOnClose() throws Exception {
        List<NetDevice> pod = List.of(new NetDevice("net0", "tap0_kata", "d2:04:8e:79:3b:ad"),
                new NetDevice("net1", "tap1_kata", "d2:04:8e:79:3b:ae"));
        Path netns;
        try (TemplateNics nics = TemplateNics.create(tmp.resolve("virt-1c-512m-x.building"), pod)) {
            netns = nics.netns();
            assertTrue(Files.exists(netns), netns.toString());
            assertEquals(List.of(new NetDevice("net0", "tap0_kata", TemplateNics.mac(0)),
                    new NetDevice("net1", "tap1_kata", TemplateNics.mac(1))), nics.devices());
            String links = ipIn(netns, "-d", "link", "show");
            assertTrue(links.contains("tap0_kata") && links.contains("tap1_kata") && links.contains("tun type tap"), links);
            // A leftover of a crashed build of the same template is replaced, not an error.
            try (TemplateNics again = TemplateNics.create(tmp.resolve("virt-1c-512m-x.building"), pod.subList(0, 1))) {
                assertEquals(netns, again.netns());
                assertFalse(ipIn(netns, "link", "show").contains("tap1_kata"));
            }
            assertFalse(Files.exists(netns), "closed with the second build");
        }
        assertFalse(Files.exists(netns));
    }
}

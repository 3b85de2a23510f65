package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * The CRI pod suite of {@link NemuPodCriTest} with {@code [factory] enable_template = true}: the pod (with its CNI
 * network) starts as a clone of a template, which its RunPodSandbox builds first. The same checks pass, the pod IP
 * answers through the clone's NIC, and the shim's log shows the pod was cloned, not booted as a fallback.
 */
class TemplatePodCriTest extends NemuPodCriTest {
    /** On a tmpfs, as in production: the template's RAM is page cache the clone maps. */
    private final Path templates = Path.of("/dev/shm/nemu-e2e-cri-templates-" + ProcessHandle.current().pid());

    @Override
    String bridge() {
        return "nemu-tpl0";
    }

    @Override
    String subnet() {
        return "10.217.74.0/24";
    }

    @Override
    boolean virtiofsd() {
        return false;
    }

    @Override
    void configure() throws IOException {
        env.enableTemplating(templates);
    }

    @Override
    void afterPodGone() throws IOException {
        try {
            super.afterPodGone();
        } finally {
            FileTrees.delete(templates);
        }
    }

    @Test
    @Order(0)
    void thePodIsACloneOfTheTemplateItsStartBuilt() throws IOException {
        env.assertCloned(podId, templates);
        String log = Files.readString(env.containerd.logFile());
        assertEquals(1, log.split("building template", -1).length - 1, env.containerd.logTail(80));
        // The clone's code cache has its own bound (clone_tcg_tb_size, 24 as shipped); the template's was tcg_tb_size.
        String cloneQemu = log.lines().filter(l -> l.contains("sandbox=" + podId) && l.contains("Vm: starting")
                && l.contains("-incoming defer"))
                .findFirst().orElseThrow();
        assertTrue(cloneQemu.contains("tcg,tb-size=24 "), cloneQemu);
        assertTrue(log.contains("tcg,tb-size=48 "), "the template's build ran with tcg_tb_size");
        // The template's throwaway taps went with their namespace once it was saved.
        String namespaces = io.nemu.e2e.support.CniBridge.output(Duration.ofSeconds(10), "ip", "netns", "list");
        assertFalse(namespaces.contains("nemu-tpl-"), namespaces);
    }
}

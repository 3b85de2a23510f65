package io.nemu.vmm.template;

import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a template: boots the VM as configured, with its RAM in the template's file (shared, so the guest writes
 * through) and an empty shared folder behind virtio-9p that the guest never mounts, waits until the caller says
 * the guest is ready (its agent answers), then pauses it and saves its device state. Its NICs, as many as the
 * config has, are on throwaway taps ({@link TemplateNics}). The VM and its taps are gone afterwards; its console log
 * stays beside the template.
 */
public final class TemplateBuilder {
    private static final Logger log = LoggerFactory.getLogger(TemplateBuilder.class);
    static final Duration SAVE_TIMEOUT = Duration.ofSeconds(30);

    /** Returns once the booted template guest is ready to be saved; throws if it never gets there. */
    @FunctionalInterface
    public interface Readiness {
        void await(Vm vm) throws IOException;
    }

    private TemplateBuilder() {
    }

    /** A store builder booting {@code booted} (the VM of the template's key as it would boot) as the template. */
    public static TemplateStore.Builder of(VmConfig booted, Readiness ready) {
        return into -> build(booted, ready, into);
    }

    static void build(VmConfig booted, Readiness ready, Path into) throws IOException {
        // What the key was made of, for the operator (nemu template list: which setting made it stale).
        Files.write(into.resolve(StoredTemplate.CONFIG), TemplateKey.describe(booted));
        Path run = PrivateFiles.directories(into.resolve("run"));
        Path share = booted.sharedDir() == null ? null : PrivateFiles.directories(into.resolve("share"));
        VmConfig c = booted.withTemplating(new Templating.Build(into.resolve(Template.MEMORY)), run, share);
        TemplateNics nics = c.netDevices().isEmpty() ? null : TemplateNics.create(into, c.netDevices());
        if (nics != null) {
            c = c.withNetwork(nics.devices(), nics.netns());
        }
        long t0 = System.nanoTime();
        Vm vm = new Vm(c);
        try {
            vm.start();
            ready.await(vm);
            long booted0 = System.nanoTime();
            StateTransfer.save(vm.qmp(), run.resolve(Vm.MIGRATION_SOCKET), into.resolve(Template.STATE), SAVE_TIMEOUT);
            log.info("template {} built: guest ready {} ms after start, state saved in {} ms ({} bytes)", into,
                    (booted0 - t0) / 1_000_000, (System.nanoTime() - booted0) / 1_000_000,
                    Files.size(into.resolve(Template.STATE)));
        } finally {
            vm.stop(Duration.ZERO);
            if (Files.exists(into.resolve(Template.STATE))) {
                TemplateRam.digHoles(into.resolve(Template.MEMORY));
            }
            if (Files.exists(vm.consoleLog())) {
                Files.move(vm.consoleLog(), into.resolve("console.log"), StandardCopyOption.REPLACE_EXISTING);
            }
            ProcessTools.deleteTree(run);
            if (share != null) {
                ProcessTools.deleteTree(share);
            }
            if (nics != null) {
                try {
                    nics.close();
                } catch (IOException | RuntimeException e) {
                    log.warn("template {}: its throwaway taps' namespace {} stays: {}", into, nics.netns(), e.getMessage());
                }
            }
        }
    }
}

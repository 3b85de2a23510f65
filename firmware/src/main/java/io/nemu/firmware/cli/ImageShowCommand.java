package io.nemu.firmware.cli;

import io.nemu.firmware.FirmwareException;
import io.nemu.firmware.GuestImage;
import io.nemu.firmware.GuestPaths;
import io.nemu.firmware.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code nemu image show}: loads and checks an image, prints what it holds. */
@Command(name = "show", mixinStandardHelpOptions = true, description = "Check the guest image and print its manifest.")
public final class ImageShowCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = {"-o", "--output", "--dir"}, paramLabel = "DIR", description = "Image directory (default as for build).")
    Path dir;

    @Option(names = "--verify", description = "Also compare every file's sha256 with the manifest.")
    boolean verify;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Path d = dir != null ? dir : GuestPaths.defaultGuestDir().orElse(null);
        if (d == null) {
            spec.commandLine().getErr().println("nemu image show: no --dir given and no default image directory");
            return 2;
        }
        try {
            GuestImage img = verify ? GuestImage.loadVerified(d) : GuestImage.load(d);
            Manifest m = img.manifest();
            out.printf("image %s: kernel %s, initramfs %s%n", d, m.kernelRelease(), m.compression());
            m.inputs().forEach(i -> out.printf("  input  %-5s %s %s%n", i.kind(), i.name(),
                    i.version() == null ? "" : i.version()));
            m.outputs().forEach(o -> out.printf("  output %-14s %,12d bytes%n", o.name(), o.size()));
            out.printf("  modules: %d (%s built in)%n", m.modules().size(),
                    m.builtinModules().isEmpty() ? "none" : String.join(", ", m.builtinModules()));
            return 0;
        } catch (FirmwareException e) {
            spec.commandLine().getErr().println("nemu image show: " + e.getMessage());
            return 1;
        }
    }
}

package trustfuse.harness;

import android.content.ContentResolver;
import android.content.Context;
import android.content.Intent;
import android.content.pm.ApplicationInfo;
import android.content.pm.PackageInfo;
import android.content.pm.PackageManager;
import android.content.pm.Signature;
import android.content.res.AssetManager;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** A Context over an APK file: assets from its assets/ entries, one signer certificate, recorded broadcasts. */
final class FakeContext extends Context {
    private final String pkg;
    private final String apk;
    private final byte[] signer;
    private final AssetManager assets;
    final List<Intent> broadcasts = Collections.synchronizedList(new ArrayList<>());

    FakeContext(String apk, String pkg, byte[] signer) throws IOException {
        this.apk = apk;
        this.pkg = pkg;
        this.signer = signer;
        Map<String, byte[]> m = new HashMap<>();
        try (ZipFile z = new ZipFile(apk)) {
            for (Enumeration<? extends ZipEntry> e = z.entries(); e.hasMoreElements();) {
                ZipEntry ze = e.nextElement();
                if (ze.getName().startsWith("assets/") && !ze.isDirectory()) {
                    m.put(ze.getName().substring("assets/".length()), z.getInputStream(ze).readAllBytes());
                }
            }
        }
        this.assets = new AssetManager(m);
    }

    @Override
    public AssetManager getAssets() {
        return assets;
    }

    @Override
    public String getPackageName() {
        return pkg;
    }

    @Override
    public PackageManager getPackageManager() {
        return new PackageManager() {
            @Override
            public PackageInfo getPackageInfo(String name, int flags) throws NameNotFoundException {
                if (!pkg.equals(name)) {
                    throw new NameNotFoundException(name);
                }
                PackageInfo pi = new PackageInfo();
                pi.packageName = name;
                if ((flags & GET_SIGNATURES) != 0) {
                    pi.signatures = new Signature[] {new Signature(signer)};
                }
                return pi;
            }
        };
    }

    @Override
    public ApplicationInfo getApplicationInfo() {
        ApplicationInfo ai = new ApplicationInfo();
        ai.packageName = pkg;
        ai.sourceDir = apk;
        return ai;
    }

    @Override
    public ContentResolver getContentResolver() {
        return new ContentResolver();
    }

    @Override
    public void sendBroadcast(Intent intent) {
        broadcasts.add(intent);
    }
}

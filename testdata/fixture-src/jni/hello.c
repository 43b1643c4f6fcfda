/*
 * libhello.so for native.apk and native-unaligned.apk: one JNI function,
 * no libc (built with -nostdlib), so any ELF toolchain can link it.
 */
typedef void JNIEnv;
typedef void *jclass;
typedef int jint;

__attribute__((visibility("default")))
jint Java_io_trustfuse_fixture_nativelib_NativeActivity_answer(JNIEnv *env, jclass cls)
{
	(void)env;
	(void)cls;
	return 42;
}

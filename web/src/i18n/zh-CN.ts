// 简体中文. Keys as in en.ts; names marked "contract" are fixed by PHONE_APP.md.
import type { TextKey } from "./en";

const zh: Record<TextKey, string> = {
  "app.title": "门禁通",
  "lang.label": "语言",
  "lang.control": "Language / 语言",
  "signIn.title": "登录",
  "signIn.username": "用户名", // contract
  "signIn.password": "密码", // contract
  "signIn.submit": "登录", // contract
  "signIn.failed": "登录失败：{message}",
  "signIn.working": "正在登录…",
  "changePassword.title": "设置新密码",
  "changePassword.why": "您的密码是他人发放的。继续之前请设置自己的密码（至少 10 个字符）。",
  "changePassword.new": "新密码", // contract
  "changePassword.repeat": "再次输入新密码", // contract
  "changePassword.submit": "保存密码", // contract
  "changePassword.mismatch": "两次输入的新密码不一致。",
  "changePassword.failed": "密码未保存：{message}",
  "bind.title": "通行证",
  "bind.why": "此手机将成为您的通行证：它生成一把不会离开手机的密钥，并显示每 {period} 秒更新一次的二维码。",
  "bind.submit": "将此手机设为通行证", // contract
  "bind.elsewhere": "您的通行证在另一部手机上。绑定此手机后，那部手机的通行证将失效。",
  "bind.failed": "无法绑定此手机：{message}",
  "bind.noCrypto": "此浏览器无法保存通行证密钥（缺少 WebCrypto Ed25519）。将由服务器为您的通行证签名，因此需要联网。",
  "bind.custodial": "显示通行证（由服务器签名）",
  "pass.title": "通行证",
  "pass.qr": "通行二维码", // contract
  "pass.countdown": "{seconds} 秒后更新",
  "pass.offline": "已离线：通行证仍可使用。",
  "pass.custodialWaiting": "正在等待服务器生成二维码…",
  "pass.custodialNote": "由服务器签名：需要联网。",
  "pass.error": "无法显示通行证：{message}",
  "menu.pass": "通行证",
  "menu.log": "通行记录",
  "menu.attendance": "考勤",
  "menu.signOut": "退出登录",
  "menu.label": "菜单",
  "log.title": "我的通行记录",
  "log.empty": "暂无通行记录。",
  "log.more": "加载更多",
  "log.granted": "已放行",
  "log.refused": "已拒绝",
  "log.in": "进",
  "log.out": "出",
  "attendance.title": "我的考勤",
  "attendance.month": "月份",
  "attendance.empty": "本月没有记录。",
  "attendance.day": "日期",
  "attendance.in": "首次进入",
  "attendance.out": "最后离开",
  "attendance.hours": "在场时长",
  "attendance.notes": "备注",
  "attendance.late": "迟到",
  "attendance.leftEarly": "早退",
  "attendance.absent": "缺勤",
  "attendance.missingExit": "无离开记录",
  "attendance.corrected": "已更正",
  "attendance.dayOff": "休息日",
  "common.loading": "加载中…",
  "common.error": "出错了：{message}",
  "common.offline": "您已离线。",
  "coming.title": "即将推出",
  "coming.invite": "邀请 {code} 的访客登记即将在此页面推出。",
  "coming.guard": "门卫控制台即将在此页面推出。",
  "notFound.title": "页面不存在",
  "notFound.back": "返回首页",
};

export default zh;
